//! Classification tiers and the disclosure levels they allow.

use crate::named_enum;

named_enum! {
    /// How sensitive a repository's code is; ordered from least to most sensitive.
    pub enum Tier ("tier") {
        Public = "public",
        Internal = "internal",
        Confidential = "confidential",
        Restricted = "restricted",
    }
}

named_enum! {
    /// How much of the code MCP may show; ordered from most to least revealing.
    pub enum Disclosure ("disclosure level") {
        Source = "source",
        RedactedSource = "redacted-source",
        Signatures = "signatures",
        Structure = "structure",
    }
}

impl Tier {
    /// What MCP discloses for this tier when neither the tier nor the repository overrides it.
    pub fn default_disclosure(self) -> Disclosure {
        match self {
            Tier::Public | Tier::Internal => Disclosure::Source,
            Tier::Confidential => Disclosure::Signatures,
            Tier::Restricted => Disclosure::Structure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_are_ordered_by_sensitivity() {
        assert!(Tier::Public < Tier::Internal);
        assert!(Tier::Internal < Tier::Confidential);
        assert!(Tier::Confidential < Tier::Restricted);
    }

    #[test]
    fn names_round_trip_and_unknown_names_list_the_choices() {
        for tier in Tier::ALL {
            assert_eq!(tier.as_str().parse::<Tier>().unwrap(), *tier);
        }
        let err = "secret".parse::<Tier>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown tier `secret`; expected one of: public internal confidential restricted"
        );
        assert_eq!(
            "redacted-source".parse::<Disclosure>().unwrap(),
            Disclosure::RedactedSource
        );
    }
}
