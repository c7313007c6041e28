#!/bin/sh
# Writes vectors.txt: password hashes made by each algorithm's reference
# tool, for TestImportedVectors. Run from this folder:
#
#	apt-get install -y apache2-utils argon2   # htpasswd; the reference argon2
#	sh make-vectors.sh > vectors.txt
#
# bcrypt salts are random, so each run writes other bcrypt lines; the others
# are the same every time. The published vectors at the end are copied from
# their sources, named there.
set -eu

tab="$(printf '\t')"
line() { printf '%s\t%s\t%s\n' "$1" "$2" "$3"; }

echo "# name${tab}password${tab}encoded hash; written by make-vectors.sh"

echo "# bcrypt, by htpasswd -nbB -C COST (Apache's, \$2y\$)"
for c in 10 11 12; do
	pw="bcrypt cost $c"
	line "htpasswd bcrypt cost $c" "$pw" "$(htpasswd -nbB -C "$c" u "$pw" | cut -d: -f2)"
done
pw='pässwörd ✓'
line "htpasswd bcrypt unicode" "$pw" "$(htpasswd -nbB -C 10 u "$pw" | cut -d: -f2)"

echo "# bcrypt \$2a\$ and \$2b\$, by crypt(3) of libxcrypt (Debian's), through perl"
salt() { head -c 32 /dev/urandom | base64 | tr -d '=+/' | cut -c1-21; }
for v in 2a 2b; do
	pw="bcrypt \$$v\$ vector"
	line "crypt bcrypt $v" "$pw" "$(perl -e 'print crypt($ARGV[0], $ARGV[1])' "$pw" "\$$v\$10\$$(salt)e")"
done
long=$(printf 'x%.0s' $(seq 1 80))
line "crypt bcrypt 80-byte password" "$long" "$(perl -e 'print crypt($ARGV[0], $ARGV[1])' "$long" "\$2b\$04\$$(salt)e")"

echo "# argon2i and argon2id, by the reference argon2 command (phc-winner-argon2)"
a2() { printf '%s' "$2" | argon2 "$3" $4 -e; }
line "argon2i m=4096 t=3 p=1" "password" "$(a2 x password somesaltsomesalt '-i -t 3 -k 4096 -p 1 -l 32')"
line "argon2i m=65536 t=2 p=4" "correct horse battery staple" "$(a2 x 'correct horse battery staple' 'NaCl-salt-16byte' '-i -t 2 -k 65536 -p 4 -l 32')"
line "argon2i m=1024 t=1 p=2, unicode, 16-byte key" "pässwörd ✓" "$(a2 x 'pässwörd ✓' 'saltysaltysalty!' '-i -t 1 -k 1024 -p 2 -l 16')"
line "argon2id m=65536 t=3 p=4" "hunter2 hunter2" "$(a2 x 'hunter2 hunter2' 'argon2id-salt-42' '-id -t 3 -k 65536 -p 4 -l 32')"

echo "# scrypt and Django PBKDF2, by Python's hashlib (make_vectors.py)"
python3 make_vectors.py

echo "# Published vectors"
echo "# Django's test suite (tests/auth_tests/test_hashers.py, 4.2 and 5.x)"
line "django pbkdf2_sha256 600000" "lètmein" 'pbkdf2_sha256$600000$seasalt2$OSllgFdJjYQjb0RfMzrx8u0XYl4Fkt+wKpI1yq4lZlo='
line "django pbkdf2_sha1 600000" "lètmein" 'pbkdf2_sha1$600000$seasalt2$2CLsaL1MZhq6JOG6QOHtVbiopHE='
line "django pbkdf2_sha256 1000000" "lètmein" 'pbkdf2_sha256$1000000$seasalt$r1uLUxoxpP2Ued/qxvmje7UH9PUJBkRrvf9gGPL7Cps='
echo "# RFC 6070's PBKDF2-HMAC-SHA1 vector (P=password, S=salt, c=4096, dkLen=20), written the Django way"
line "rfc6070 pbkdf2_sha1 4096" "password" 'pbkdf2_sha1$4096$salt$SwB5AbdlSJq+rUnZJvch0GWkKcE='
echo "# RFC 7914 section 12, scrypt (P=password, S=NaCl, N=1024, r=8, p=16, dkLen=64), in passlib's form"
line "rfc7914 scrypt" "password" '$scrypt$ln=10,r=8,p=16$TmFDbA$/bq+HJ00cgB4VucZDQHp/nxq18vII3gw53N2Y0s3MWIurzDZLiKjiG/xCSedmDDaxyevuUqD7m2DYMvfoswGQA'
echo "# passlib's documentation (passlib.hash.scrypt)"
line "passlib scrypt ln=8" "password" '$scrypt$ln=8,r=8,p=1$WKs1xljLudd6z9kbY0wpJQ$yCR4iDZYDKv+iEJj6yHY0lv/epnfB6f/w1EbXrsJOuQ'
line "passlib scrypt ln=16" "password" '$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E'
echo "# Firebase's README (github.com/firebase/scrypt): the exported user1@test.com with its project's parameters"
line "firebase readme" "user1password" '$fbscrypt$v=1,n=14,r=8,p=1,ss=Bw==,sk=jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==$42xEC+ixf3L2lw==$lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ=='
echo "# Supabase Auth's test suite (internal/crypto/password_test.go)"
line "supabase fbscrypt" "mytestpassword" '$fbscrypt$v=1,n=14,r=8,p=1,ss=Bw==,sk=ou9tdYTGyYm8kuR6Dt0Bp0kDuAYoXrK16mbZO4yGwAn3oLspjnN0/c41v8xZnO1n14J3MjKj1b2g6AUCAlFwMw==$C0sHCg9ek77hsg==$zKVTMvnWVw5BBOZNUdnsalx4c4c7y/w7IS5p6Ut2+CfEFFlz37J9huyQfov4iizN8dbjvEJlM5tQaJP84+hfTw=='
echo "# crypt_blowfish's test vectors (Openwall, wrapper.c), which libxcrypt reproduces"
line "crypt_blowfish U*U" 'U*U' '$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW'
line "crypt_blowfish U*U*" 'U*U*' '$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK'
line "crypt_blowfish U*U*U" 'U*U*U' '$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a'
line "crypt_blowfish empty" '' '$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy'
line "crypt_blowfish over 72" '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789chars after 72 are ignored' '$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui'
echo "# The reference argon2's test vectors (phc-winner-argon2 src/test.c), argon2i version 19"
line "argon2 test.c argon2i" "password" '$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$wWKIMhR9lyDFvRz9YTZweHKfbftvj+qf+YFY4NeBbtA'
