//! IANA registries of IKEv2 as open enums.
//!
//! Each registry is a newtype over its wire integer with named constants, so values we
//! do not know survive a parse/serialize round trip and print as numbers.

/// Defines an open enum: a `Copy` newtype with IANA-named constants, `name()`, and
/// `Debug`/`Display` that print the name or the number.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $name:ident($repr:ty) {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub $repr);

        #[allow(non_upper_case_globals)]
        impl $name {
            $( $(#[$vmeta])* pub const $variant: $name = $name($value); )*

            /// The IANA name of this value, if it is one we know.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $value => Some(stringify!($variant)), )*
                    _ => None,
                }
            }

            /// Every named value of the registry, in registry order.
            pub const ALL: &'static [$name] = &[ $( $name($value) ),* ];
        }

        impl From<$repr> for $name {
            fn from(v: $repr) -> Self { Self(v) }
        }

        impl From<$name> for $repr {
            fn from(v: $name) -> Self { v.0 }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Debug::fmt(self, f)
            }
        }
    };
}

open_enum! {
    /// Exchange types (RFC 7296 section 3.1 and later RFCs).
    ExchangeType(u8) {
        IKE_SA_INIT = 34,
        IKE_AUTH = 35,
        CREATE_CHILD_SA = 36,
        INFORMATIONAL = 37,
        IKE_SESSION_RESUME = 38,
        GSA_AUTH = 39,
        GSA_REGISTRATION = 40,
        GSA_REKEY = 41,
        IKE_INTERMEDIATE = 43,
        IKE_FOLLOWUP_KE = 44,
    }
}

open_enum! {
    /// Payload types (RFC 7296 section 3.2; SKF from RFC 7383).
    PayloadType(u8) {
        NO_NEXT_PAYLOAD = 0,
        SA = 33,
        KE = 34,
        IDI = 35,
        IDR = 36,
        CERT = 37,
        CERTREQ = 38,
        AUTH = 39,
        NONCE = 40,
        NOTIFY = 41,
        DELETE = 42,
        VENDOR_ID = 43,
        TSI = 44,
        TSR = 45,
        SK = 46,
        CP = 47,
        EAP = 48,
        GSPM = 49,
        IDG = 50,
        GSA = 51,
        KD = 52,
        SKF = 53,
        PS = 54,
    }
}

open_enum! {
    /// Security protocol identifiers (RFC 7296 section 3.3.1).
    ProtocolId(u8) {
        NONE = 0,
        IKE = 1,
        AH = 2,
        ESP = 3,
    }
}

open_enum! {
    /// Transform types (RFC 7296 section 3.3.2; ADDKE from RFC 9370).
    TransformType(u8) {
        ENCR = 1,
        PRF = 2,
        INTEG = 3,
        /// "Diffie-Hellman group", renamed "Key Exchange Method" by RFC 9370.
        DH = 4,
        ESN = 5,
        ADDKE1 = 6,
        ADDKE2 = 7,
        ADDKE3 = 8,
        ADDKE4 = 9,
        ADDKE5 = 10,
        ADDKE6 = 11,
        ADDKE7 = 12,
    }
}

open_enum! {
    /// Transform type 1: encryption algorithms.
    EncrId(u16) {
        DES_IV64 = 1,
        DES = 2,
        TRIPLE_DES = 3,
        RC5 = 4,
        IDEA = 5,
        CAST = 6,
        BLOWFISH = 7,
        TRIPLE_IDEA = 8,
        DES_IV32 = 9,
        NULL = 11,
        AES_CBC = 12,
        AES_CTR = 13,
        AES_CCM_8 = 14,
        AES_CCM_12 = 15,
        AES_CCM_16 = 16,
        AES_GCM_8 = 18,
        AES_GCM_12 = 19,
        AES_GCM_16 = 20,
        NULL_AUTH_AES_GMAC = 21,
        CAMELLIA_CBC = 23,
        CAMELLIA_CTR = 24,
        CAMELLIA_CCM_8 = 25,
        CAMELLIA_CCM_12 = 26,
        CAMELLIA_CCM_16 = 27,
        CHACHA20_POLY1305 = 28,
        AES_CCM_8_IIV = 29,
        AES_GCM_16_IIV = 30,
        CHACHA20_POLY1305_IIV = 31,
        KUZNYECHIK_MGM_KTREE = 32,
        MAGMA_MGM_KTREE = 33,
        KUZNYECHIK_MGM_MAC_KTREE = 34,
        MAGMA_MGM_MAC_KTREE = 35,
    }
}

open_enum! {
    /// Transform type 2: pseudo-random functions.
    PrfId(u16) {
        HMAC_MD5 = 1,
        HMAC_SHA1 = 2,
        HMAC_TIGER = 3,
        AES128_XCBC = 4,
        HMAC_SHA2_256 = 5,
        HMAC_SHA2_384 = 6,
        HMAC_SHA2_512 = 7,
        AES128_CMAC = 8,
        HMAC_STREEBOG_512 = 9,
    }
}

open_enum! {
    /// Transform type 3: integrity algorithms.
    IntegId(u16) {
        NONE = 0,
        HMAC_MD5_96 = 1,
        HMAC_SHA1_96 = 2,
        DES_MAC = 3,
        KPDK_MD5 = 4,
        AES_XCBC_96 = 5,
        HMAC_MD5_128 = 6,
        HMAC_SHA1_160 = 7,
        AES_CMAC_96 = 8,
        AES_128_GMAC = 9,
        AES_192_GMAC = 10,
        AES_256_GMAC = 11,
        HMAC_SHA2_256_128 = 12,
        HMAC_SHA2_384_192 = 13,
        HMAC_SHA2_512_256 = 14,
    }
}

open_enum! {
    /// Transform type 4: Diffie-Hellman groups / key exchange methods.
    DhGroup(u16) {
        NONE = 0,
        MODP_768 = 1,
        MODP_1024 = 2,
        MODP_1536 = 5,
        MODP_2048 = 14,
        MODP_3072 = 15,
        MODP_4096 = 16,
        MODP_6144 = 17,
        MODP_8192 = 18,
        /// 256-bit random ECP group (RFC 5903), "ecp256" in strongSwan.
        ECP_256 = 19,
        /// 384-bit random ECP group (RFC 5903), "ecp384": an elliptic curve, not MODP.
        ECP_384 = 20,
        /// 521-bit random ECP group (RFC 5903), "ecp521".
        ECP_521 = 21,
        MODP_1024_160 = 22,
        MODP_2048_224 = 23,
        MODP_2048_256 = 24,
        ECP_192 = 25,
        ECP_224 = 26,
        BRAINPOOL_P224R1 = 27,
        BRAINPOOL_P256R1 = 28,
        BRAINPOOL_P384R1 = 29,
        BRAINPOOL_P512R1 = 30,
        CURVE25519 = 31,
        CURVE448 = 32,
        GOST3410_2012_256 = 33,
        GOST3410_2012_512 = 34,
        ML_KEM_512 = 35,
        ML_KEM_768 = 36,
        ML_KEM_1024 = 37,
    }
}

open_enum! {
    /// Transform type 5: extended sequence numbers.
    EsnId(u16) {
        NO_ESN = 0,
        ESN = 1,
    }
}

open_enum! {
    /// Transform attribute types (RFC 7296 section 3.3.5).
    AttributeType(u16) {
        KEY_LENGTH = 14,
    }
}

open_enum! {
    /// Identification types (RFC 7296 section 3.5).
    IdType(u8) {
        IPV4_ADDR = 1,
        FQDN = 2,
        RFC822_ADDR = 3,
        IPV6_ADDR = 5,
        DER_ASN1_DN = 9,
        DER_ASN1_GN = 10,
        KEY_ID = 11,
        FC_NAME = 12,
        NULL = 13,
    }
}

open_enum! {
    /// Certificate encodings (RFC 7296 section 3.6).
    CertEncoding(u8) {
        PKCS7_X509 = 1,
        PGP = 2,
        DNS_SIGNED_KEY = 3,
        X509_SIGNATURE = 4,
        KERBEROS_TOKEN = 6,
        CRL = 7,
        ARL = 8,
        SPKI = 9,
        X509_ATTRIBUTE = 10,
        RAW_RSA_KEY = 11,
        HASH_URL_X509_CERT = 12,
        HASH_URL_X509_BUNDLE = 13,
        OCSP_CONTENT = 14,
        RAW_PUBLIC_KEY = 15,
    }
}

open_enum! {
    /// Authentication methods (RFC 7296 section 3.8, RFC 7427, RFC 7619).
    AuthMethod(u8) {
        RSA_SIG = 1,
        SHARED_KEY_MIC = 2,
        DSS_SIG = 3,
        ECDSA_SHA256_P256 = 9,
        ECDSA_SHA384_P384 = 10,
        ECDSA_SHA512_P521 = 11,
        GSPAM = 12,
        NULL_AUTH = 13,
        DIGITAL_SIGNATURE = 14,
    }
}

open_enum! {
    /// Traffic selector types (RFC 7296 section 3.13.1).
    TsType(u8) {
        IPV4_ADDR_RANGE = 7,
        IPV6_ADDR_RANGE = 8,
        FC_ADDR_RANGE = 9,
        SECLABEL = 10,
    }
}

open_enum! {
    /// Configuration payload types (RFC 7296 section 3.15).
    CfgType(u8) {
        REQUEST = 1,
        REPLY = 2,
        SET = 3,
        ACK = 4,
    }
}

open_enum! {
    /// Configuration attribute types (RFC 7296 section 3.15.1 and later RFCs).
    CfgAttributeType(u16) {
        INTERNAL_IP4_ADDRESS = 1,
        INTERNAL_IP4_NETMASK = 2,
        INTERNAL_IP4_DNS = 3,
        INTERNAL_IP4_NBNS = 4,
        INTERNAL_IP4_DHCP = 6,
        APPLICATION_VERSION = 7,
        INTERNAL_IP6_ADDRESS = 8,
        INTERNAL_IP6_DNS = 10,
        INTERNAL_IP6_DHCP = 12,
        INTERNAL_IP4_SUBNET = 13,
        SUPPORTED_ATTRIBUTES = 14,
        INTERNAL_IP6_SUBNET = 15,
        MIP6_HOME_PREFIX = 16,
        INTERNAL_IP6_LINK = 17,
        INTERNAL_IP6_PREFIX = 18,
        HOME_AGENT_ADDRESS = 19,
        P_CSCF_IP4_ADDRESS = 20,
        P_CSCF_IP6_ADDRESS = 21,
        FTT_KAT = 22,
        EXTERNAL_SOURCE_IP4_NAT_INFO = 23,
        TIMEOUT_PERIOD_FOR_LIVENESS_CHECK = 24,
        INTERNAL_DNS_DOMAIN = 25,
        INTERNAL_DNSSEC_TA = 26,
    }
}

open_enum! {
    /// Notify message types (IANA "IKEv2 Notify Message Types"): error types below
    /// 16384, status types from 16384.
    NotifyType(u16) {
        // Error types
        UNSUPPORTED_CRITICAL_PAYLOAD = 1,
        INVALID_IKE_SPI = 4,
        INVALID_MAJOR_VERSION = 5,
        INVALID_SYNTAX = 7,
        INVALID_MESSAGE_ID = 9,
        INVALID_SPI = 11,
        NO_PROPOSAL_CHOSEN = 14,
        INVALID_KE_PAYLOAD = 17,
        AUTHENTICATION_FAILED = 24,
        SINGLE_PAIR_REQUIRED = 34,
        NO_ADDITIONAL_SAS = 35,
        INTERNAL_ADDRESS_FAILURE = 36,
        FAILED_CP_REQUIRED = 37,
        TS_UNACCEPTABLE = 38,
        INVALID_SELECTORS = 39,
        UNACCEPTABLE_ADDRESSES = 40,
        UNEXPECTED_NAT_DETECTED = 41,
        USE_ASSIGNED_HOA = 42,
        TEMPORARY_FAILURE = 43,
        CHILD_SA_NOT_FOUND = 44,
        INVALID_GROUP_ID = 45,
        AUTHORIZATION_FAILED = 46,
        STATE_NOT_FOUND = 47,
        TS_MAX_QUEUE = 48,
        // Status types
        INITIAL_CONTACT = 16384,
        SET_WINDOW_SIZE = 16385,
        ADDITIONAL_TS_POSSIBLE = 16386,
        IPCOMP_SUPPORTED = 16387,
        NAT_DETECTION_SOURCE_IP = 16388,
        NAT_DETECTION_DESTINATION_IP = 16389,
        COOKIE = 16390,
        USE_TRANSPORT_MODE = 16391,
        HTTP_CERT_LOOKUP_SUPPORTED = 16392,
        REKEY_SA = 16393,
        ESP_TFC_PADDING_NOT_SUPPORTED = 16394,
        NON_FIRST_FRAGMENTS_ALSO = 16395,
        MOBIKE_SUPPORTED = 16396,
        ADDITIONAL_IP4_ADDRESS = 16397,
        ADDITIONAL_IP6_ADDRESS = 16398,
        NO_ADDITIONAL_ADDRESSES = 16399,
        UPDATE_SA_ADDRESSES = 16400,
        COOKIE2 = 16401,
        NO_NATS_ALLOWED = 16402,
        AUTH_LIFETIME = 16403,
        MULTIPLE_AUTH_SUPPORTED = 16404,
        ANOTHER_AUTH_FOLLOWS = 16405,
        REDIRECT_SUPPORTED = 16406,
        REDIRECT = 16407,
        REDIRECTED_FROM = 16408,
        TICKET_LT_OPAQUE = 16409,
        TICKET_REQUEST = 16410,
        TICKET_ACK = 16411,
        TICKET_NACK = 16412,
        TICKET_OPAQUE = 16413,
        LINK_ID = 16414,
        USE_WESP_MODE = 16415,
        ROHC_SUPPORTED = 16416,
        EAP_ONLY_AUTHENTICATION = 16417,
        CHILDLESS_IKEV2_SUPPORTED = 16418,
        QUICK_CRASH_DETECTION = 16419,
        IKEV2_MESSAGE_ID_SYNC_SUPPORTED = 16420,
        IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED = 16421,
        IKEV2_MESSAGE_ID_SYNC = 16422,
        IPSEC_REPLAY_COUNTER_SYNC = 16423,
        SECURE_PASSWORD_METHODS = 16424,
        PSK_PERSIST = 16425,
        PSK_CONFIRM = 16426,
        ERX_SUPPORTED = 16427,
        IFOM_CAPABILITY = 16428,
        SENDER_REQUEST_ID = 16429,
        IKEV2_FRAGMENTATION_SUPPORTED = 16430,
        SIGNATURE_HASH_ALGORITHMS = 16431,
        CLONE_IKE_SA_SUPPORTED = 16432,
        CLONE_IKE_SA = 16433,
        PUZZLE = 16434,
        USE_PPK = 16435,
        PPK_IDENTITY = 16436,
        NO_PPK_AUTH = 16437,
        INTERMEDIATE_EXCHANGE_SUPPORTED = 16438,
        IP4_ALLOWED = 16439,
        IP6_ALLOWED = 16440,
        ADDITIONAL_KEY_EXCHANGE = 16441,
        USE_AGGFRAG = 16442,
        SUPPORTED_AUTH_METHODS = 16443,
        SA_RESOURCE_INFO = 16444,
    }
}

impl NotifyType {
    /// Error notifies are below 16384 (RFC 7296 section 3.10.1).
    pub fn is_error(self) -> bool {
        self.0 < 16384
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_print_their_names() {
        assert_eq!(
            format!("{:?}", NotifyType::NO_PROPOSAL_CHOSEN),
            "NO_PROPOSAL_CHOSEN"
        );
        assert_eq!(format!("{}", DhGroup::ECP_384), "ECP_384");
        assert_eq!(DhGroup::ECP_384.0, 20);
        assert_eq!(ExchangeType::IKE_AUTH.0, 35);
    }

    #[test]
    fn unknown_values_print_as_numbers() {
        assert_eq!(format!("{:?}", NotifyType(9999)), "NotifyType(9999)");
        assert_eq!(NotifyType(9999).name(), None);
    }

    #[test]
    fn error_and_status_notifies() {
        assert!(NotifyType::INVALID_SYNTAX.is_error());
        assert!(!NotifyType::COOKIE.is_error());
    }

    #[test]
    fn registries_have_unique_values() {
        let mut v: Vec<u16> = NotifyType::ALL.iter().map(|n| n.0).collect();
        let len = v.len();
        v.sort();
        v.dedup();
        assert_eq!(v.len(), len);
    }
}
