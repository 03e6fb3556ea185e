"""The DUIS profile of XML signatures: what it allows, its algorithm identifiers and its one error.

The profile (DUIS templates, DCC Boxed signing tool, domain.md §4): one enveloped ``ds:Signature``, the last
child of the root; ``SignedInfo`` canonicalised with exclusive C14N; ECDSA P-256 with SHA-256, the value raw
r‖s (64 octets); exactly one ``Reference URI=""`` whose only transform is enveloped-signature, digest SHA-256;
``KeyInfo/X509Data/X509IssuerSerial`` naming the certificate by issuer (``CN=Z1,OU=07`` style) and decimal
serial. The certificate itself is not in the message.

**Reference canonicalisation.** With only the enveloped-signature transform, the node-set is turned into
octets with the XMLDSig default, *inclusive* Canonical XML 1.0 (XMLDSig core, reference processing model).
That is what DCC Boxed and xmlsec1 do: the digests of the real DCC Boxed responses in the shared samples
match inclusive C14N 1.0 and do not match exclusive C14N (the root declares namespaces the body does not
use). So the signer digests with inclusive C14N 1.0 and the verifier gives signxml
``default_reference_c14n_method=CANONICAL_XML_1_0``. (The shared gotchas page says exclusive; the samples and
xmlsec1 say otherwise — tests pin this down.)

`signing` signs with the profile (`Signer`), `verifying` checks it (`Verifier`) and `trust` says whose
certificates may sign (`TrustStore`); `signing` re-exports the public names of all four.
"""

from __future__ import annotations

from typing import Final

from hanota.errors import SignatureError

from . import codes

EXC_C14N: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"
INCLUSIVE_C14N: Final = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
ECDSA_SHA256: Final = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
ENVELOPED: Final = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SHA256: Final = "http://www.w3.org/2001/04/xmlenc#sha256"


def signature_invalid(message: str) -> SignatureError:
    """The error of every failed check of the profile (code SIGNATURE_INVALID), with its own message."""
    return SignatureError(message, code=codes.SIGNATURE_INVALID)
