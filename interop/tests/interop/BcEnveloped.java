// BouncyCastle's CMSEnvelopedData as a reader of the keys delivered to a recipient
// (tests/recipient.rs): for each DER file, the recipient info meant for CERT is opened with
// KEY (key transport for RSA, key agreement for EC) and the content printed in Base64, one
// JSON line a file; a failure prints {"error": ...} instead.
//
// java -cp bcprov.jar:bcpkix.jar:CLASSES BcEnveloped CERT.pem KEY.pem FILE...

import java.io.FileReader;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.PrivateKey;
import java.security.Security;
import java.security.cert.X509Certificate;
import java.util.Base64;

import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cms.CMSEnvelopedData;
import org.bouncycastle.cms.Recipient;
import org.bouncycastle.cms.RecipientInformation;
import org.bouncycastle.cms.jcajce.JceKeyAgreeEnvelopedRecipient;
import org.bouncycastle.cms.jcajce.JceKeyAgreeRecipientId;
import org.bouncycastle.cms.jcajce.JceKeyTransEnvelopedRecipient;
import org.bouncycastle.cms.jcajce.JceKeyTransRecipientId;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;

public class BcEnveloped {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        X509CertificateHolder holder;
        try (PEMParser p = new PEMParser(new FileReader(args[0]))) {
            holder = (X509CertificateHolder) p.readObject();
        }
        X509Certificate cert = new JcaX509CertificateConverter().setProvider("BC").getCertificate(holder);
        PrivateKey key;
        try (PEMParser p = new PEMParser(new FileReader(args[1]))) {
            key = new JcaPEMKeyConverter().setProvider("BC").getPrivateKey((PrivateKeyInfo) p.readObject());
        }
        boolean rsa = key.getAlgorithm().equals("RSA");
        for (int i = 2; i < args.length; i++) {
            try {
                CMSEnvelopedData env = new CMSEnvelopedData(Files.readAllBytes(Paths.get(args[i])));
                RecipientInformation info = env.getRecipientInfos().get(
                        rsa ? new JceKeyTransRecipientId(cert) : new JceKeyAgreeRecipientId(cert));
                if (info == null) {
                    System.out.println("{\"error\": \"no recipient info for the certificate\"}");
                    continue;
                }
                Recipient recipient = rsa
                        ? new JceKeyTransEnvelopedRecipient(key).setProvider("BC")
                        : new JceKeyAgreeEnvelopedRecipient(key).setProvider("BC");
                byte[] content = info.getContent(recipient);
                System.out.println("{\"content_encryption\": \"" + env.getEncryptionAlgOID()
                        + "\", \"key_encryption\": \"" + info.getKeyEncryptionAlgOID()
                        + "\", \"content\": \"" + Base64.getEncoder().encodeToString(content) + "\"}");
            } catch (Exception e) {
                String m = String.valueOf(e).replace("\\", "\\\\").replace("\"", "'").replace("\n", " ");
                System.out.println("{\"error\": \"" + m + "\"}");
            }
        }
    }
}
