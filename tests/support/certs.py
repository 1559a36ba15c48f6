"""Test certificates made with the openssl CLI (EC P-256 keys: fast to generate)."""
import os
import subprocess


def _openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca(directory, name="ca"):
    """Writes NAME.key/NAME.crt (a self-signed CA); returns (cert path, key path)."""
    key, crt = os.path.join(directory, f"{name}.key"), os.path.join(directory, f"{name}.crt")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", key, "-out", crt, "-days", "3650",
             "-subj", f"/CN={name}-test-ca", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return crt, key


def make_serving_cert(directory, name, ca, dns_names=("localhost",), ips=("127.0.0.1",)):
    """Writes NAME.key/NAME.crt signed by ca=(cert, key) for the given SANs."""
    key, crt = os.path.join(directory, f"{name}.key"), os.path.join(directory, f"{name}.crt")
    csr = os.path.join(directory, f"{name}.csr")
    ext = os.path.join(directory, f"{name}.ext")
    san = ",".join([f"DNS:{d}" for d in dns_names] + [f"IP:{i}" for i in ips])
    with open(ext, "w", encoding="utf-8") as handle:
        handle.write(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n"
                     "keyUsage=critical,digitalSignature,keyEncipherment\n")
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={name}")
    _openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
             "-out", crt, "-days", "3650", "-extfile", ext)
    os.remove(csr)
    os.remove(ext)
    return crt, key
