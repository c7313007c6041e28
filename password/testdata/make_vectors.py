#!/usr/bin/env python3
"""Prints the scrypt (passlib's PHC form) and Django PBKDF2 lines of
vectors.txt, made with Python's hashlib (OpenSSL underneath). The salts are
fixed, so the output is the same on every run."""
import base64
import hashlib


def b64raw(b):
    return base64.b64encode(b).decode().rstrip("=")


def scrypt(name, password, salt, ln, r, p, dklen=32):
    key = hashlib.scrypt(password.encode(), salt=salt, n=1 << ln, r=r, p=p,
                         maxmem=256 << 20, dklen=dklen)
    print(f"{name}\t{password}\t$scrypt$ln={ln},r={r},p={p}${b64raw(salt)}${b64raw(key)}")


def django(name, algo, password, salt, iterations):
    digest = {"pbkdf2_sha256": "sha256", "pbkdf2_sha1": "sha1"}[algo]
    key = hashlib.pbkdf2_hmac(digest, password.encode(), salt.encode(), iterations)
    print(f"{name}\t{password}\t{algo}${iterations}${salt}${base64.b64encode(key).decode()}")


scrypt("scrypt ln=10 r=8 p=1", "password", b"0123456789abcdef", 10, 8, 1)
scrypt("scrypt ln=14 r=8 p=2, unicode", "pässwörd ✓", b"saltysaltysalty!", 14, 8, 2)
scrypt("scrypt ln=12 r=4 p=1, 64-byte key", "correct horse battery staple", b"NaClNaClNaClNaCl", 12, 4, 1, 64)
scrypt("scrypt ln=11 r=16 p=1, 8-byte salt", "hunter2", b"8bytes!!", 11, 16, 1)
django("pbkdf2_sha256 1000 iterations", "pbkdf2_sha256", "password", "seasalt", 1000)
django("pbkdf2_sha256 260000 iterations", "pbkdf2_sha256", "correct horse battery staple", "Y9N0mGvvLd2cwb5sWD8mUe", 260000)
django("pbkdf2_sha256 unicode", "pbkdf2_sha256", "pässwörd ✓", "rK8nQ2pX4tZ7", 20000)
django("pbkdf2_sha1 10000 iterations", "pbkdf2_sha1", "letmein", "seasalt", 10000)
django("pbkdf2_sha1 unicode", "pbkdf2_sha1", "pässwörd ✓", "s4lt", 30000)
