// Opens PKCS#12 files with BouncyCastle's own PKCS12 KeyStore (provider "BC", not the JDK's)
// and certs-only PKCS#7 files with BouncyCastle's CMSSignedData, and prints what it found as
// one JSON object per file.
//
//   KEY_PASS=password WRONG_PASS=other java -cp DIR:bcprov.jar:bcpkix.jar:bcutil.jar \
//       BcCheck pfx FILE...
//   java -cp ... BcCheck p7b FILE...
//
// pfx: {"path", "ok", "error"?, "entries": [{"alias", "key"?: {"kind", "secret",
//       "signs_for_leaf"}, "chain"?: [hex DER...], "cert"?: hex DER}], "wrong": {"ok", "error"?}}
//   "secret" is written as tests/interop/inspect.py writes it (RSA: n, e, d, p, q; EC: the
//   private value; Ed25519: the 32-byte seed), so it compares with Python's reading of the
//   stored key; "signs_for_leaf": a signature made with the key verifies with the public
//   key of the first certificate of its chain.
// p7b: {"path", "ok", "error"?, "content_type", "signers", "certs": [hex DER...]}
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Security;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.security.interfaces.ECPrivateKey;
import java.security.interfaces.RSAPrivateCrtKey;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import org.bouncycastle.asn1.ASN1OctetString;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cms.CMSSignedData;
import org.bouncycastle.jce.provider.BouncyCastleProvider;

public class BcCheck {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        String mode = args[0];
        for (int i = 1; i < args.length; i++) {
            String path = args[i];
            System.out.println(mode.equals("pfx") ? pfx(path) : p7b(path));
        }
    }

    static String pfx(String path) {
        StringBuilder out = new StringBuilder("{\"path\":").append(str(path));
        try {
            KeyStore ks = load(path, System.getenv("KEY_PASS"));
            List<String> entries = new ArrayList<>();
            for (String alias : Collections.list(ks.aliases())) {
                StringBuilder e = new StringBuilder("{\"alias\":").append(str(alias));
                if (ks.isKeyEntry(alias)) {
                    PrivateKey key =
                            (PrivateKey) ks.getKey(alias, System.getenv("KEY_PASS").toCharArray());
                    Certificate[] chain = ks.getCertificateChain(alias);
                    e.append(",\"key\":").append(key(key, (X509Certificate) chain[0]));
                    List<String> ders = new ArrayList<>();
                    for (Certificate c : chain) {
                        ders.add(str(hex(c.getEncoded())));
                    }
                    e.append(",\"chain\":[").append(String.join(",", ders)).append("]");
                } else {
                    e.append(",\"cert\":").append(str(hex(ks.getCertificate(alias).getEncoded())));
                }
                entries.add(e.append("}").toString());
            }
            out.append(",\"ok\":true,\"entries\":[").append(String.join(",", entries)).append("]");
        } catch (Exception e) {
            out.append(",\"ok\":false,\"error\":").append(str(e.toString()));
        }
        try {
            load(path, System.getenv("WRONG_PASS"));
            out.append(",\"wrong\":{\"ok\":true}");
        } catch (Exception e) {
            out.append(",\"wrong\":{\"ok\":false,\"error\":").append(str(e.toString())).append("}");
        }
        return out.append("}").toString();
    }

    static KeyStore load(String path, String password) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12", "BC");
        try (var in = Files.newInputStream(Path.of(path))) {
            ks.load(in, password.toCharArray());
        }
        return ks;
    }

    static String key(PrivateKey key, X509Certificate leaf) throws Exception {
        String kind;
        String secret;
        String alg;
        if (key instanceof RSAPrivateCrtKey k) {
            kind = "rsa";
            secret = "n=" + h(k.getModulus()) + " e=" + h(k.getPublicExponent()) + " d="
                    + h(k.getPrivateExponent()) + " p=" + h(k.getPrimeP()) + " q="
                    + h(k.getPrimeQ());
            alg = "SHA256withRSA";
        } else if (key instanceof ECPrivateKey k) {
            kind = "ec";
            secret = h(k.getS());
            alg = "SHA256withECDSA";
        } else if (key.getAlgorithm().equals("Ed25519") || key.getAlgorithm().equals("EdDSA")) {
            kind = "ed25519";
            PrivateKeyInfo info = PrivateKeyInfo.getInstance(key.getEncoded());
            secret = hex(ASN1OctetString.getInstance(info.parsePrivateKey()).getOctets());
            alg = "Ed25519";
        } else {
            throw new IllegalStateException("unexpected key " + key.getAlgorithm());
        }
        byte[] message = "cert-download interop".getBytes(StandardCharsets.UTF_8);
        Signature signer = Signature.getInstance(alg, "BC");
        signer.initSign(key);
        signer.update(message);
        byte[] signature = signer.sign();
        Signature verifier = Signature.getInstance(alg, "BC");
        verifier.initVerify(leaf.getPublicKey());
        verifier.update(message);
        boolean verifies = verifier.verify(signature);
        return "{\"kind\":" + str(kind) + ",\"algorithm\":" + str(key.getAlgorithm())
                + ",\"secret\":" + str(secret) + ",\"signs_for_leaf\":" + verifies + "}";
    }

    static String p7b(String path) {
        StringBuilder out = new StringBuilder("{\"path\":").append(str(path));
        try {
            CMSSignedData sd = new CMSSignedData(Files.readAllBytes(Path.of(path)));
            List<String> ders = new ArrayList<>();
            for (X509CertificateHolder c : sd.getCertificates().getMatches(null)) {
                ders.add(str(hex(c.getEncoded())));
            }
            out.append(",\"ok\":true,\"content_type\":")
                    .append(str(sd.getSignedContentTypeOID()))
                    .append(",\"signers\":")
                    .append(sd.getSignerInfos().size())
                    .append(",\"certs\":[")
                    .append(String.join(",", ders))
                    .append("]");
        } catch (Exception e) {
            out.append(",\"ok\":false,\"error\":").append(str(e.toString()));
        }
        return out.append("}").toString();
    }

    static String h(BigInteger n) {
        return n.toString(16);
    }

    static String hex(byte[] b) {
        return HexFormat.of().formatHex(b);
    }

    /** A JSON string. */
    static String str(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20 || c > 0x7e) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }
}
