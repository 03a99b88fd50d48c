#!/usr/bin/env bash
# Writes the dev overlay's generated secret material into secrets/ (git-ignored). Idempotent:
# an existing key is kept. Dev only: the production key is created as described in ../../README.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
key="$here/secrets/audit-signing-key.pem"
mkdir -p "$here/secrets"
if [[ -s "$key" ]]; then
  exit 0
fi
umask 077
if command -v openssl >/dev/null 2>&1 && openssl genpkey -algorithm ed25519 -out "$key.tmp" 2>/dev/null; then
  mv "$key.tmp" "$key"
else
  rm -f "$key.tmp"
  # Fallback when openssl is missing or too old for Ed25519: the project's own dependency.
  "${PYTHON:-python3}" - "$key" <<'PY'
import sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
pem = Ed25519PrivateKey.generate().private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
open(sys.argv[1], "wb").write(pem)
PY
fi
echo "wrote dev-only audit signing key: $key"
