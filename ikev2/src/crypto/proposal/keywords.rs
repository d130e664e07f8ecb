//! strongSwan's algorithm keywords and names, and what ikev2d knows about each
//! transform: whether it is an AEAD, whether we implement it, whether it is weak.
//!
//! The keyword table is strongSwan's `proposal_keywords_static.txt` (strongSwan 6.0.6,
//! which is 5.9's table minus the removed NTRU/NewHope methods plus GOST and ML-KEM).
//! The first keyword listed for a (type, ID, key length) triple is the canonical
//! spelling that `Display` prints.

use crate::crypto::algorithms::{EncrAlgorithm, IntegAlgorithm, PrfAlgorithm, dh_supported};
use crate::wire::{DhGroup, EncrId, IntegId, PrfId, TransformType};

use super::Transform;

/// One strongSwan proposal keyword.
#[derive(Debug, Clone, Copy)]
pub(super) struct Keyword {
    pub(super) name: &'static str,
    pub(super) ty: TransformType,
    pub(super) id: u16,
    pub(super) key_length: Option<u16>,
}

const fn kw(name: &'static str, ty: TransformType, id: u16, key_length: Option<u16>) -> Keyword {
    Keyword {
        name,
        ty,
        id,
        key_length,
    }
}

/// strongSwan's keyword table, canonical spelling first for each transform.
pub(super) static KEYWORDS: &[Keyword] = &[
    kw("null", TransformType::ENCR, 11, None),
    kw("des", TransformType::ENCR, 2, None),
    kw("3des", TransformType::ENCR, 3, None),
    kw("aes128", TransformType::ENCR, 12, Some(128)),
    kw("aes", TransformType::ENCR, 12, Some(128)),
    kw("aes192", TransformType::ENCR, 12, Some(192)),
    kw("aes256", TransformType::ENCR, 12, Some(256)),
    kw("aes128ctr", TransformType::ENCR, 13, Some(128)),
    kw("aes192ctr", TransformType::ENCR, 13, Some(192)),
    kw("aes256ctr", TransformType::ENCR, 13, Some(256)),
    kw("aes128ccm16", TransformType::ENCR, 16, Some(128)),
    kw("aes128ccm128", TransformType::ENCR, 16, Some(128)),
    kw("aes128ccm", TransformType::ENCR, 16, Some(128)),
    kw("aes128ccm12", TransformType::ENCR, 15, Some(128)),
    kw("aes128ccm96", TransformType::ENCR, 15, Some(128)),
    kw("aes128ccm8", TransformType::ENCR, 14, Some(128)),
    kw("aes128ccm64", TransformType::ENCR, 14, Some(128)),
    kw("aes192ccm16", TransformType::ENCR, 16, Some(192)),
    kw("aes192ccm128", TransformType::ENCR, 16, Some(192)),
    kw("aes192ccm", TransformType::ENCR, 16, Some(192)),
    kw("aes192ccm12", TransformType::ENCR, 15, Some(192)),
    kw("aes192ccm96", TransformType::ENCR, 15, Some(192)),
    kw("aes192ccm8", TransformType::ENCR, 14, Some(192)),
    kw("aes192ccm64", TransformType::ENCR, 14, Some(192)),
    kw("aes256ccm16", TransformType::ENCR, 16, Some(256)),
    kw("aes256ccm128", TransformType::ENCR, 16, Some(256)),
    kw("aes256ccm", TransformType::ENCR, 16, Some(256)),
    kw("aes256ccm12", TransformType::ENCR, 15, Some(256)),
    kw("aes256ccm96", TransformType::ENCR, 15, Some(256)),
    kw("aes256ccm8", TransformType::ENCR, 14, Some(256)),
    kw("aes256ccm64", TransformType::ENCR, 14, Some(256)),
    kw("aes128gcm16", TransformType::ENCR, 20, Some(128)),
    kw("aes128gcm128", TransformType::ENCR, 20, Some(128)),
    kw("aes128gcm", TransformType::ENCR, 20, Some(128)),
    kw("aes128gcm12", TransformType::ENCR, 19, Some(128)),
    kw("aes128gcm96", TransformType::ENCR, 19, Some(128)),
    kw("aes128gcm8", TransformType::ENCR, 18, Some(128)),
    kw("aes128gcm64", TransformType::ENCR, 18, Some(128)),
    kw("aes192gcm16", TransformType::ENCR, 20, Some(192)),
    kw("aes192gcm128", TransformType::ENCR, 20, Some(192)),
    kw("aes192gcm", TransformType::ENCR, 20, Some(192)),
    kw("aes192gcm12", TransformType::ENCR, 19, Some(192)),
    kw("aes192gcm96", TransformType::ENCR, 19, Some(192)),
    kw("aes192gcm8", TransformType::ENCR, 18, Some(192)),
    kw("aes192gcm64", TransformType::ENCR, 18, Some(192)),
    kw("aes256gcm16", TransformType::ENCR, 20, Some(256)),
    kw("aes256gcm128", TransformType::ENCR, 20, Some(256)),
    kw("aes256gcm", TransformType::ENCR, 20, Some(256)),
    kw("aes256gcm12", TransformType::ENCR, 19, Some(256)),
    kw("aes256gcm96", TransformType::ENCR, 19, Some(256)),
    kw("aes256gcm8", TransformType::ENCR, 18, Some(256)),
    kw("aes256gcm64", TransformType::ENCR, 18, Some(256)),
    kw("aes128gmac", TransformType::ENCR, 21, Some(128)),
    kw("aes192gmac", TransformType::ENCR, 21, Some(192)),
    kw("aes256gmac", TransformType::ENCR, 21, Some(256)),
    kw("chacha20poly1305", TransformType::ENCR, 28, None),
    kw("chacha20poly1305compat", TransformType::ENCR, 28, Some(256)),
    kw("blowfish128", TransformType::ENCR, 7, Some(128)),
    kw("blowfish", TransformType::ENCR, 7, Some(128)),
    kw("blowfish192", TransformType::ENCR, 7, Some(192)),
    kw("blowfish256", TransformType::ENCR, 7, Some(256)),
    kw("camellia128", TransformType::ENCR, 23, Some(128)),
    kw("camellia", TransformType::ENCR, 23, Some(128)),
    kw("camellia192", TransformType::ENCR, 23, Some(192)),
    kw("camellia256", TransformType::ENCR, 23, Some(256)),
    kw("serpent128", TransformType::ENCR, 1026, Some(128)),
    kw("serpent", TransformType::ENCR, 1026, Some(128)),
    kw("serpent192", TransformType::ENCR, 1026, Some(192)),
    kw("serpent256", TransformType::ENCR, 1026, Some(256)),
    kw("twofish128", TransformType::ENCR, 1027, Some(128)),
    kw("twofish", TransformType::ENCR, 1027, Some(128)),
    kw("twofish192", TransformType::ENCR, 1027, Some(192)),
    kw("twofish256", TransformType::ENCR, 1027, Some(256)),
    kw("camellia128ctr", TransformType::ENCR, 24, Some(128)),
    kw("camellia192ctr", TransformType::ENCR, 24, Some(192)),
    kw("camellia256ctr", TransformType::ENCR, 24, Some(256)),
    kw("camellia128ccm16", TransformType::ENCR, 27, Some(128)),
    kw("camellia128ccm128", TransformType::ENCR, 27, Some(128)),
    kw("camellia128ccm12", TransformType::ENCR, 26, Some(128)),
    kw("camellia128ccm96", TransformType::ENCR, 26, Some(128)),
    kw("camellia128ccm8", TransformType::ENCR, 25, Some(128)),
    kw("camellia128ccm64", TransformType::ENCR, 25, Some(128)),
    kw("camellia192ccm16", TransformType::ENCR, 27, Some(192)),
    kw("camellia192ccm128", TransformType::ENCR, 27, Some(192)),
    kw("camellia192ccm12", TransformType::ENCR, 26, Some(192)),
    kw("camellia192ccm96", TransformType::ENCR, 26, Some(192)),
    kw("camellia192ccm8", TransformType::ENCR, 25, Some(192)),
    kw("camellia192ccm64", TransformType::ENCR, 25, Some(192)),
    kw("camellia256ccm16", TransformType::ENCR, 27, Some(256)),
    kw("camellia256ccm128", TransformType::ENCR, 27, Some(256)),
    kw("camellia256ccm12", TransformType::ENCR, 26, Some(256)),
    kw("camellia256ccm96", TransformType::ENCR, 26, Some(256)),
    kw("camellia256ccm8", TransformType::ENCR, 25, Some(256)),
    kw("camellia256ccm64", TransformType::ENCR, 25, Some(256)),
    kw("cast128", TransformType::ENCR, 6, Some(128)),
    kw("sha1", TransformType::INTEG, 2, None),
    kw("sha", TransformType::INTEG, 2, None),
    kw("sha1_160", TransformType::INTEG, 7, None),
    kw("sha256", TransformType::INTEG, 12, None),
    kw("sha2_256", TransformType::INTEG, 12, None),
    kw("sha256_96", TransformType::INTEG, 1026, None),
    kw("sha2_256_96", TransformType::INTEG, 1026, None),
    kw("sha384", TransformType::INTEG, 13, None),
    kw("sha2_384", TransformType::INTEG, 13, None),
    kw("sha512", TransformType::INTEG, 14, None),
    kw("sha2_512", TransformType::INTEG, 14, None),
    kw("md5", TransformType::INTEG, 1, None),
    kw("md5_128", TransformType::INTEG, 6, None),
    kw("aesxcbc", TransformType::INTEG, 5, None),
    kw("camelliaxcbc", TransformType::INTEG, 1030, None),
    kw("aescmac", TransformType::INTEG, 8, None),
    kw("prfsha1", TransformType::PRF, 2, None),
    kw("prfsha256", TransformType::PRF, 5, None),
    kw("prfsha384", TransformType::PRF, 6, None),
    kw("prfsha512", TransformType::PRF, 7, None),
    kw("prfmd5", TransformType::PRF, 1, None),
    kw("prfaesxcbc", TransformType::PRF, 4, None),
    kw("prfcamelliaxcbc", TransformType::PRF, 1028, None),
    kw("prfaescmac", TransformType::PRF, 8, None),
    kw("none", TransformType::DH, 0, None),
    kw("modpnone", TransformType::DH, 0, None),
    kw("modpnull", TransformType::DH, 1024, None),
    kw("modp768", TransformType::DH, 1, None),
    kw("modp1024", TransformType::DH, 2, None),
    kw("modp1536", TransformType::DH, 5, None),
    kw("modp2048", TransformType::DH, 14, None),
    kw("modp3072", TransformType::DH, 15, None),
    kw("modp4096", TransformType::DH, 16, None),
    kw("modp6144", TransformType::DH, 17, None),
    kw("modp8192", TransformType::DH, 18, None),
    kw("ecp192", TransformType::DH, 25, None),
    kw("ecp224", TransformType::DH, 26, None),
    kw("ecp256", TransformType::DH, 19, None),
    kw("ecp384", TransformType::DH, 20, None),
    kw("ecp521", TransformType::DH, 21, None),
    kw("modp1024s160", TransformType::DH, 22, None),
    kw("modp2048s224", TransformType::DH, 23, None),
    kw("modp2048s256", TransformType::DH, 24, None),
    kw("ecp224bp", TransformType::DH, 27, None),
    kw("ecp256bp", TransformType::DH, 28, None),
    kw("ecp384bp", TransformType::DH, 29, None),
    kw("ecp512bp", TransformType::DH, 30, None),
    kw("curve25519", TransformType::DH, 31, None),
    kw("x25519", TransformType::DH, 31, None),
    kw("curve448", TransformType::DH, 32, None),
    kw("x448", TransformType::DH, 32, None),
    kw("gost256", TransformType::DH, 33, None),
    kw("gost512", TransformType::DH, 34, None),
    kw("mlkem512", TransformType::DH, 35, None),
    kw("mlkem768", TransformType::DH, 36, None),
    kw("mlkem1024", TransformType::DH, 37, None),
    kw("noesn", TransformType::ESN, 0, None),
    kw("esn", TransformType::ESN, 1, None),
];

impl Keyword {
    fn transform(&self) -> Transform {
        Transform::new(self.ty, self.id, self.key_length)
    }
}

/// Number (1-7) of an RFC 9370 additional key exchange transform type.
pub(super) fn addke_number(ty: TransformType) -> Option<u8> {
    (TransformType::ADDKE1.0..=TransformType::ADDKE7.0)
        .contains(&ty.0)
        .then(|| ty.0 - TransformType::ADDKE1.0 + 1)
}

/// Key exchange transforms: the DH group and the additional key exchanges.
pub(super) fn is_key_exchange(ty: TransformType) -> bool {
    ty == TransformType::DH || addke_number(ty).is_some()
}

/// Look up one keyword, case-sensitively as strongSwan does. Also accepts strongSwan
/// 6's `keN_<method>` for RFC 9370 additional key exchanges.
pub(super) fn lookup(word: &str) -> Option<Transform> {
    if let Some(k) = KEYWORDS.iter().find(|k| k.name == word) {
        return Some(k.transform());
    }
    // strongSwan matches `%2s%1u_%255s` with a case-insensitive "ke".
    let prefix = word.get(..2)?;
    let digit = word.get(2..3)?;
    let method = word.get(3..)?.strip_prefix('_')?;
    if !prefix.eq_ignore_ascii_case("ke") {
        return None;
    }
    let n: u8 = digit.parse().ok().filter(|n| (1..=7).contains(n))?;
    let base = KEYWORDS
        .iter()
        .find(|k| k.name == method && k.ty == TransformType::DH)?;
    Some(Transform::new(
        TransformType(TransformType::ADDKE1.0 + n - 1),
        base.id,
        None,
    ))
}

/// The canonical keyword of a transform (for additional key exchanges: of its method).
pub(super) fn canonical(
    ty: TransformType,
    id: u16,
    key_length: Option<u16>,
) -> Option<&'static str> {
    let ty = if addke_number(ty).is_some() {
        TransformType::DH
    } else {
        ty
    };
    KEYWORDS
        .iter()
        .find(|k| k.ty == ty && k.id == id && k.key_length == key_length)
        .map(|k| k.name)
}

/// strongSwan's name of a transform ID (as in its logs and `swanctl --list-sas`), or
/// the IANA name for IDs strongSwan does not name.
pub(super) fn long_name(ty: TransformType, id: u16) -> Option<&'static str> {
    let name = match ty {
        TransformType::ENCR => match id {
            1 => "DES_IV64",
            2 => "DES_CBC",
            3 => "3DES_CBC",
            4 => "RC5_CBC",
            5 => "IDEA_CBC",
            6 => "CAST_CBC",
            7 => "BLOWFISH_CBC",
            8 => "3IDEA",
            9 => "DES_IV32",
            11 => "NULL",
            12 => "AES_CBC",
            13 => "AES_CTR",
            14 => "AES_CCM_8",
            15 => "AES_CCM_12",
            16 => "AES_CCM_16",
            18 => "AES_GCM_8",
            19 => "AES_GCM_12",
            20 => "AES_GCM_16",
            21 => "NULL_AES_GMAC",
            23 => "CAMELLIA_CBC",
            24 => "CAMELLIA_CTR",
            25 => "CAMELLIA_CCM_8",
            26 => "CAMELLIA_CCM_12",
            27 => "CAMELLIA_CCM_16",
            28 => "CHACHA20_POLY1305",
            1026 => "SERPENT_CBC",
            1027 => "TWOFISH_CBC",
            _ => return EncrId(id).name(),
        },
        TransformType::INTEG => match id {
            0 => "NONE",
            1 => "HMAC_MD5_96",
            2 => "HMAC_SHA1_96",
            3 => "DES_MAC",
            4 => "KPDK_MD5",
            5 => "AES_XCBC_96",
            6 => "HMAC_MD5_128",
            7 => "HMAC_SHA1_160",
            8 => "AES_CMAC_96",
            9 => "AES_128_GMAC",
            10 => "AES_192_GMAC",
            11 => "AES_256_GMAC",
            12 => "HMAC_SHA2_256_128",
            13 => "HMAC_SHA2_384_192",
            14 => "HMAC_SHA2_512_256",
            1026 => "HMAC_SHA2_256_96",
            1030 => "CAMELLIA_XCBC_96",
            _ => return IntegId(id).name(),
        },
        TransformType::PRF => match id {
            1 => "PRF_HMAC_MD5",
            2 => "PRF_HMAC_SHA1",
            3 => "PRF_HMAC_TIGER",
            4 => "PRF_AES128_XCBC",
            5 => "PRF_HMAC_SHA2_256",
            6 => "PRF_HMAC_SHA2_384",
            7 => "PRF_HMAC_SHA2_512",
            8 => "PRF_AES128_CMAC",
            1028 => "PRF_CAMELLIA128_XCBC",
            _ => return PrfId(id).name(),
        },
        TransformType::ESN => match id {
            0 => "NO_ESN",
            1 => "ESN",
            _ => return None,
        },
        ty if is_key_exchange(ty) => match id {
            0 => "KE_NONE",
            1 => "MODP_768",
            2 => "MODP_1024",
            5 => "MODP_1536",
            14 => "MODP_2048",
            15 => "MODP_3072",
            16 => "MODP_4096",
            17 => "MODP_6144",
            18 => "MODP_8192",
            19 => "ECP_256",
            20 => "ECP_384",
            21 => "ECP_521",
            22 => "MODP_1024_160",
            23 => "MODP_2048_224",
            24 => "MODP_2048_256",
            25 => "ECP_192",
            26 => "ECP_224",
            27 => "ECP_224_BP",
            28 => "ECP_256_BP",
            29 => "ECP_384_BP",
            30 => "ECP_512_BP",
            31 => "CURVE_25519",
            32 => "CURVE_448",
            33 => "GOST3410_256",
            34 => "GOST3410_512",
            35 => "ML_KEM_512",
            36 => "ML_KEM_768",
            37 => "ML_KEM_1024",
            1024 => "MODP_NULL",
            _ => return DhGroup(id).name(),
        },
        _ => return None,
    };
    Some(name)
}

/// Combined-mode ciphers, as strongSwan's `encryption_algorithm_is_aead` plus the
/// IANA AEADs it does not know (RFC 8750 implicit-IV variants, GOST MGM).
pub(super) fn is_aead_encr(id: u16) -> bool {
    matches!(id, 14..=16 | 18..=21 | 25..=35)
}

/// The PRF strongSwan derives from an integrity algorithm when an IKE proposal has no
/// PRF keyword (`integ_prf_map` in strongSwan's proposal.c).
pub(super) fn prf_for_integ(integ: u16) -> Option<u16> {
    Some(match integ {
        1 | 6 => 1,   // HMAC_MD5_96, HMAC_MD5_128 -> PRF_HMAC_MD5
        2 | 7 => 2,   // HMAC_SHA1_96, HMAC_SHA1_160 -> PRF_HMAC_SHA1
        12 => 5,      // HMAC_SHA2_256_128 -> PRF_HMAC_SHA2_256
        13 => 6,      // HMAC_SHA2_384_192 -> PRF_HMAC_SHA2_384
        14 => 7,      // HMAC_SHA2_512_256 -> PRF_HMAC_SHA2_512
        5 => 4,       // AES_XCBC_96 -> PRF_AES128_XCBC
        1030 => 1028, // CAMELLIA_XCBC_96 -> PRF_CAMELLIA128_XCBC
        8 => 8,       // AES_CMAC_96 -> PRF_AES128_CMAC
        _ => return None,
    })
}

/// Whether ikev2d can run this transform. "No PFS" (`none`) is not a transform we
/// run; selection handles it before asking.
pub(super) fn implemented(t: &Transform) -> bool {
    match t.ty {
        TransformType::ENCR => EncrAlgorithm::from_transform(EncrId(t.id), t.key_length).is_some(),
        TransformType::INTEG => {
            t.key_length.is_none() && IntegAlgorithm::from_id(IntegId(t.id)).is_some()
        }
        TransformType::PRF => {
            t.key_length.is_none() && PrfAlgorithm::from_id(PrfId(t.id)).is_some()
        }
        TransformType::DH => t.key_length.is_none() && dh_supported(DhGroup(t.id)),
        TransformType::ESN => t.key_length.is_none() && t.id <= 1,
        // Additional key exchanges (RFC 9370): the same methods as type 4.
        ty if addke_number(ty).is_some() => {
            t.key_length.is_none() && t.id != 0 && dh_supported(DhGroup(t.id))
        }
        _ => false,
    }
}

/// How bad a weak transform is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Severity {
    /// Below 128-bit security strength but still widely deployed (strongSwan keeps
    /// these in the last round of its default proposals).
    Legacy,
    /// Deprecated: avoid unless a peer leaves no choice.
    Weak,
    /// Broken or providing no protection; must not be used.
    Insecure,
}

/// Why a transform is weak, if it is.
pub(super) fn weakness(t: &Transform) -> Option<(Severity, &'static str)> {
    use Severity::*;
    let w = match t.ty {
        TransformType::ENCR => match t.id {
            11 => (Insecure, "NULL encryption provides no confidentiality"),
            21 => (
                Insecure,
                "AES-GMAC provides integrity only, no confidentiality",
            ),
            1 | 2 | 9 => (Insecure, "DES has a 56-bit key"),
            3 => (
                Weak,
                "3DES has a 64-bit block (Sweet32) and at most 112-bit strength",
            ),
            6 | 7 => (Weak, "64-bit block cipher (Sweet32)"),
            14 | 18 | 25 => (Legacy, "AEAD with a truncated 8-octet ICV"),
            15 | 19 | 26 => (Legacy, "AEAD with a truncated 12-octet ICV"),
            _ => return None,
        },
        TransformType::INTEG => match t.id {
            1 | 6 | 4 => (Insecure, "MD5 is broken"),
            3 => (Insecure, "DES-MAC has a 56-bit key"),
            2 | 7 => (Legacy, "HMAC-SHA1; prefer HMAC-SHA2"),
            5 | 8 => (Legacy, "AES MAC truncated to 96 bits"),
            1026 => (
                Weak,
                "HMAC-SHA2-256 truncated to 96 bits (non-standard, for old Linux kernels)",
            ),
            _ => return None,
        },
        TransformType::PRF => match t.id {
            1 => (Insecure, "MD5 is broken"),
            2 => (Legacy, "HMAC-SHA1; prefer HMAC-SHA2"),
            _ => return None,
        },
        ty if is_key_exchange(ty) => match t.id {
            1024 => (
                Insecure,
                "MODP_NULL performs no key exchange (testing only)",
            ),
            1 | 2 | 22 => (Insecure, "MODP group of 1024 bits or less"),
            5 => (Weak, "1536-bit MODP group (about 90-bit strength)"),
            23 | 24 => (Weak, "RFC 5114 primes are of questionable origin"),
            25 => (Weak, "192-bit curve (96-bit strength)"),
            14 => (Legacy, "2048-bit MODP group (about 112-bit strength)"),
            26 | 27 => (Legacy, "224-bit curve (112-bit strength)"),
            _ => return None,
        },
        _ => return None,
    };
    Some(w)
}

/// A hint for an unknown keyword: the operator's likely intent.
pub(super) fn suggest(word: &str) -> Option<String> {
    if let Some(stripped) = word.strip_suffix('!') {
        return Some(format!(
            "the trailing '!' strict flag is ipsec.conf syntax; swanctl-style proposals \
             are always strict, use '{stripped}'"
        ));
    }
    let lower = word.to_ascii_lowercase();
    if lower != word && lookup(&lower).is_some() {
        return Some(format!("keywords are lowercase: did you mean '{lower}'?"));
    }
    if ["aesgcm", "aesccm", "aesctr", "aesgmac"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        return Some(
            "AES mode keywords need a key size, e.g. aes128gcm16, aes256gcm16, aes256ctr"
                .to_string(),
        );
    }
    let max = if lower.len() > 5 { 2 } else { 1 };
    KEYWORDS
        .iter()
        .map(|k| (edit_distance(&lower, k.name), k.name))
        .filter(|&(d, _)| d <= max)
        .min_by_key(|&(d, _)| d)
        .map(|(_, name)| format!("did you mean '{name}'?"))
}

/// Levenshtein distance over bytes (keywords are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Every keyword strongSwan accepts in a proposal (without the `keN_` forms), in table
/// order.
pub fn keywords() -> impl Iterator<Item = &'static str> {
    KEYWORDS.iter().map(|k| k.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_keyword_is_listed_first() {
        assert_eq!(
            canonical(TransformType::ENCR, 12, Some(128)),
            Some("aes128")
        );
        assert_eq!(
            canonical(TransformType::ENCR, 20, Some(256)),
            Some("aes256gcm16")
        );
        assert_eq!(canonical(TransformType::INTEG, 2, None), Some("sha1"));
        assert_eq!(canonical(TransformType::DH, 31, None), Some("curve25519"));
        assert_eq!(canonical(TransformType::DH, 0, None), Some("none"));
    }

    #[test]
    fn every_keyword_has_a_unique_name_and_a_long_name() {
        let mut names: Vec<_> = keywords().collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
        for k in KEYWORDS {
            assert!(
                long_name(k.ty, k.id).is_some(),
                "{} has no long name",
                k.name
            );
        }
    }

    #[test]
    fn additional_key_exchange_keywords() {
        let t = lookup("ke1_mlkem768").expect("valid keyword");
        assert_eq!((t.ty, t.id), (TransformType::ADDKE1, 36));
        assert_eq!(
            lookup("ke7_none").map(|t| t.ty),
            Some(TransformType::ADDKE7)
        );
        assert_eq!(lookup("ke8_mlkem768"), None);
        assert_eq!(lookup("ke1_aes128"), None);
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest("AES256").as_deref(),
            Some("keywords are lowercase: did you mean 'aes256'?")
        );
        assert_eq!(suggest("sha265").as_deref(), Some("did you mean 'sha256'?"));
        assert!(suggest("modp4096!").is_some_and(|s| s.contains("strict")));
        assert!(suggest("aesgcm16").is_some_and(|s| s.contains("key size")));
        assert_eq!(suggest("frobnicate"), None);
    }
}
