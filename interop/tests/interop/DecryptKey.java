// Decrypts DER PKCS#8 EncryptedPrivateKeyInfo files the way a Java application does
// (javax.crypto.EncryptedPrivateKeyInfo + the PBES2 SecretKeyFactory/Cipher of the JDK).
//
//   KEY_PASS=password WRONG_PASS=other java -cp DIR DecryptKey FILE...
//
// Prints two lines per file, one with each password:
// "OK <pbe algorithm> <key algorithm> <PKCS#8 hex>" or "ERR <why>".
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.HexFormat;
import javax.crypto.Cipher;
import javax.crypto.EncryptedPrivateKeyInfo;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;

public class DecryptKey {
    public static void main(String[] args) {
        for (String path : args) {
            System.out.println(decrypt(path, System.getenv("KEY_PASS").toCharArray()));
            System.out.println(decrypt(path, System.getenv("WRONG_PASS").toCharArray()));
        }
    }

    static String decrypt(String path, char[] password) {
        try {
            EncryptedPrivateKeyInfo info =
                    new EncryptedPrivateKeyInfo(Files.readAllBytes(Path.of(path)));
            // For PBES2 the parameters name the whole scheme, e.g. PBEWithHmacSHA256AndAES_256.
            String pbe = info.getAlgParameters().toString();
            SecretKeyFactory factory = SecretKeyFactory.getInstance(pbe);
            Cipher cipher = Cipher.getInstance(pbe);
            cipher.init(
                    Cipher.DECRYPT_MODE,
                    factory.generateSecret(new PBEKeySpec(password)),
                    info.getAlgParameters());
            PKCS8EncodedKeySpec spec = info.getKeySpec(cipher);
            for (String alg : new String[] {"RSA", "EC", "Ed25519"}) {
                try {
                    PrivateKey key = KeyFactory.getInstance(alg).generatePrivate(spec);
                    return "OK " + pbe + " " + key.getAlgorithm() + " "
                            + HexFormat.of().formatHex(key.getEncoded());
                } catch (Exception wrongAlgorithm) {
                    // try the next one
                }
            }
            return "ERR no KeyFactory accepts the decrypted key";
        } catch (Exception e) {
            return "ERR " + e.toString().replace('\n', ' ');
        }
    }
}
