// Opens PKCS#12 files with golang.org/x/crypto/pkcs12 and prints what it found as one JSON
// object per file.
//
//	KEY_PASS=password WRONG_PASS=other go_pkcs12 FILE...
//
// Each object has "path", and "decode", "to_pem", "wrong_decode" and "wrong_to_pem": the
// results of Decode and ToPEM with KEY_PASS and with WRONG_PASS, each with "ok" and, on
// failure, "error". Decode's result has "key" ({"type", "secret", "spki"}) and "cert"
// (hex DER); ToPEM's has "blocks" ([{"type", "der", "key"?}]).
//
// "key" is written as tests/interop/inspect.py writes it, so it compares with Python's
// reading of the stored key.
package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"golang.org/x/crypto/pkcs12"
)

type result map[string]interface{}

func keyInfo(key interface{}) (result, error) {
	var kind, secret string
	var public interface{}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		kind = "rsa"
		secret = fmt.Sprintf("n=%x e=%x d=%x p=%x q=%x", k.N, k.E, k.D, k.Primes[0], k.Primes[1])
		public = k.Public()
	case *ecdsa.PrivateKey:
		names := map[string]string{"P-256": "secp256r1", "P-384": "secp384r1", "P-521": "secp521r1"}
		kind = "ec-" + names[k.Curve.Params().Name]
		secret = fmt.Sprintf("%x", k.D)
		public = k.Public()
	case ed25519.PrivateKey:
		kind = "ed25519"
		secret = hex.EncodeToString(k.Seed())
		public = k.Public()
	default:
		return nil, fmt.Errorf("unexpected key type %T", key)
	}
	spki, err := x509.MarshalPKIXPublicKey(public)
	if err != nil {
		return nil, err
	}
	return result{"type": kind, "secret": secret, "spki": hex.EncodeToString(spki)}, nil
}

func decode(data []byte, password string) result {
	key, cert, err := pkcs12.Decode(data, password)
	if err != nil {
		return result{"ok": false, "error": err.Error()}
	}
	info, err := keyInfo(key)
	if err != nil {
		return result{"ok": false, "error": err.Error()}
	}
	return result{"ok": true, "key": info, "cert": hex.EncodeToString(cert.Raw)}
}

func toPEM(data []byte, password string) result {
	blocks, err := pkcs12.ToPEM(data, password)
	if err != nil {
		return result{"ok": false, "error": err.Error()}
	}
	out := []result{}
	for _, b := range blocks {
		block := result{"type": b.Type, "der": hex.EncodeToString(b.Bytes)}
		if b.Type == "PRIVATE KEY" {
			// PKCS#1 for RSA, SEC 1 for EC (see ToPEM's documentation).
			var key interface{}
			if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
				key = k
			} else if k, err := x509.ParseECPrivateKey(b.Bytes); err == nil {
				key = k
			} else {
				return result{"ok": false, "error": "the key block parses as neither PKCS#1 nor SEC 1"}
			}
			info, err := keyInfo(key)
			if err != nil {
				return result{"ok": false, "error": err.Error()}
			}
			block["key"] = info
		}
		out = append(out, block)
	}
	return result{"ok": true, "blocks": out}
}

func main() {
	password, wrong := os.Getenv("KEY_PASS"), os.Getenv("WRONG_PASS")
	for _, path := range os.Args[1:] {
		r := result{"path": path}
		data, err := os.ReadFile(path)
		if err != nil {
			r["error"] = err.Error()
		} else {
			r["decode"] = decode(data, password)
			r["to_pem"] = toPEM(data, password)
			r["wrong_decode"] = decode(data, wrong)
			r["wrong_to_pem"] = toPEM(data, wrong)
		}
		line, _ := json.Marshal(r)
		fmt.Println(string(line))
	}
}
