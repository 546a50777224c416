//! The declared policy on AI training and data mining: the vocabulary the
//! manifest, the metadata carriers, the seal and the CLI share.
//!
//! One [`PolicyKind`] per CLI `--policy` name; a [`Policy`] is the full
//! declaration (IPTC PLUS Data Mining URI, W3C TDMRep reservation, the CAWG
//! `cawg.training-mining` entries and the human notice); the seal carries a
//! one-byte [`policy_code`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The declared policy on AI training and data mining, one per CLI `--policy` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum PolicyKind {
    /// `no-ai-training`: AI/ML training prohibited (PLUS `DMI-PROHIBITED-AIMLTRAINING`).
    /// CAWG: training, generative training and data mining `notAllowed`, inference `allowed`.
    #[default]
    NoAiTraining,
    /// `no-genai-training`: generative AI/ML training prohibited (PLUS
    /// `DMI-PROHIBITED-GENAIMLTRAINING`). CAWG: only generative training `notAllowed`.
    NoGenAiTraining,
    /// `no-data-mining`: all data mining prohibited (PLUS `DMI-PROHIBITED`). CAWG: everything
    /// `notAllowed`.
    NoDataMining,
    /// `search-only`: prohibited except search engine indexing (PLUS
    /// `DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING`). CAWG: training, generative training and
    /// inference `notAllowed`, data mining `constrained` to "search engine indexing only".
    SearchOnly,
    /// `allow`: data mining allowed (PLUS `DMI-ALLOWED`), everything `allowed`, no TDM
    /// reservation.
    Allow,
}

const TDM_RESERVED: &str =
    "Text and data mining rights reserved (Art. 4(3) Directive (EU) 2019/790).";

impl PolicyKind {
    /// Every kind, in CLI help order.
    pub const ALL: [PolicyKind; 5] = [
        PolicyKind::NoAiTraining,
        PolicyKind::NoGenAiTraining,
        PolicyKind::NoDataMining,
        PolicyKind::SearchOnly,
        PolicyKind::Allow,
    ];

    /// The CLI name, e.g. `"no-ai-training"`.
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::NoAiTraining => "no-ai-training",
            PolicyKind::NoGenAiTraining => "no-genai-training",
            PolicyKind::NoDataMining => "no-data-mining",
            PolicyKind::SearchOnly => "search-only",
            PolicyKind::Allow => "allow",
        }
    }

    /// The full IPTC PLUS Data Mining URI (the value of XMP `plus:DataMining`).
    pub fn plus_uri(self) -> &'static str {
        match self {
            PolicyKind::NoAiTraining => {
                "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING"
            }
            PolicyKind::NoGenAiTraining => {
                "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-GENAIMLTRAINING"
            }
            PolicyKind::NoDataMining => "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED",
            PolicyKind::SearchOnly => {
                "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING"
            }
            PolicyKind::Allow => "http://ns.useplus.org/ldf/vocab/DMI-ALLOWED",
        }
    }

    /// The default human-readable notice, one or two sentences ending in a period.
    pub fn notice(self) -> String {
        match self {
            PolicyKind::NoAiTraining => format!("AI/ML training prohibited. {TDM_RESERVED}"),
            PolicyKind::NoGenAiTraining => {
                format!("Generative AI/ML training prohibited. {TDM_RESERVED}")
            }
            PolicyKind::NoDataMining => {
                format!("Data mining, AI/ML training and AI inference prohibited. {TDM_RESERVED}")
            }
            PolicyKind::SearchOnly => format!(
                "Data mining and AI/ML training prohibited, except search engine indexing. \
                 {TDM_RESERVED}"
            ),
            PolicyKind::Allow => "Data mining and AI/ML training allowed.".to_string(),
        }
    }

    fn training_mining(self) -> TrainingMining {
        use Usage::{Allowed as A, Constrained as C, NotAllowed as N};
        // ai_training, ai_generative_training, data_mining, ai_inference
        let [training, generative, mining, inference] = match self {
            PolicyKind::NoAiTraining => [N, N, N, A],
            PolicyKind::NoGenAiTraining => [A, N, A, A],
            PolicyKind::NoDataMining => [N, N, N, N],
            PolicyKind::SearchOnly => [N, N, C, N],
            PolicyKind::Allow => [A, A, A, A],
        };
        // Only `search-only` constrains anything.
        let entry = |usage| TrainingMiningEntry {
            usage,
            constraint_info: (usage == C).then(|| "search engine indexing only".to_string()),
        };
        TrainingMining {
            entries: TrainingMiningEntries {
                ai_training: entry(training),
                ai_generative_training: entry(generative),
                data_mining: entry(mining),
                ai_inference: entry(inference),
            },
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PolicyKind {
    type Err = ParsePolicyError;

    /// Parses a CLI name (see [`PolicyKind::name`]).
    fn from_str(s: &str) -> Result<PolicyKind, ParsePolicyError> {
        PolicyKind::ALL
            .into_iter()
            .find(|kind| kind.name() == s)
            .ok_or_else(|| ParsePolicyError(s.to_string()))
    }
}

/// An unknown policy name was given to [`PolicyKind::from_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown policy {0:?} (expected one of: no-ai-training, no-genai-training, no-data-mining, \
     search-only, allow)"
)]
pub struct ParsePolicyError(String);

/// The machine-readable no-AI declaration, in the vocabularies that readers already know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Policy {
    /// IPTC PLUS Data Mining: the full URI, e.g.
    /// `http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING`.
    pub plus_data_mining: String,
    /// W3C TDMRep `tdm:reservation`: 1 = text and data mining rights reserved, 0 = not.
    pub tdm_reservation: u8,
    /// The CAWG `cawg.training-mining` assertion, verbatim (with its `entries` wrapper).
    pub cawg_training_mining: TrainingMining,
    /// The human-readable notice.
    pub notice: String,
    /// Where the full terms are published (TDMRep `tdm:policy`); omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_url: Option<String>,
}

impl Policy {
    /// The standard declaration for `kind`, with its default notice and no terms URL.
    pub fn from_kind(kind: PolicyKind) -> Policy {
        Policy {
            plus_data_mining: kind.plus_uri().to_string(),
            tdm_reservation: u8::from(kind != PolicyKind::Allow),
            cawg_training_mining: kind.training_mining(),
            notice: kind.notice(),
            terms_url: None,
        }
    }

    /// The kind whose PLUS URI this policy carries, if any.
    pub fn kind(&self) -> Option<PolicyKind> {
        PolicyKind::ALL
            .into_iter()
            .find(|kind| kind.plus_uri() == self.plus_data_mining)
    }
}

/// `Policy::from_kind(PolicyKind::default())`.
impl Default for Policy {
    fn default() -> Policy {
        Policy::from_kind(PolicyKind::default())
    }
}

/// The CAWG training-and-data-mining assertion (label [`TrainingMining::LABEL`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingMining {
    /// The entries, keyed by CAWG label.
    pub entries: TrainingMiningEntries,
}

impl TrainingMining {
    /// The assertion's label in Content Credentials.
    pub const LABEL: &'static str = "cawg.training-mining";
}

/// The four CAWG entries earmark always writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TrainingMiningEntries {
    /// `cawg.ai_training`.
    #[serde(rename = "cawg.ai_training")]
    pub ai_training: TrainingMiningEntry,
    /// `cawg.ai_generative_training`.
    #[serde(rename = "cawg.ai_generative_training")]
    pub ai_generative_training: TrainingMiningEntry,
    /// `cawg.data_mining`.
    #[serde(rename = "cawg.data_mining")]
    pub data_mining: TrainingMiningEntry,
    /// `cawg.ai_inference`.
    #[serde(rename = "cawg.ai_inference")]
    pub ai_inference: TrainingMiningEntry,
}

/// One CAWG entry: `{"use": "notAllowed"}`, or `{"use": "constrained", "constraint_info": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingMiningEntry {
    /// Whether the use is allowed.
    #[serde(rename = "use")]
    pub usage: Usage,
    /// What the constraint is, for [`Usage::Constrained`]; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint_info: Option<String>,
}

impl TrainingMiningEntry {
    /// `{"use": "allowed"}`.
    pub fn allowed() -> TrainingMiningEntry {
        TrainingMiningEntry {
            usage: Usage::Allowed,
            constraint_info: None,
        }
    }

    /// `{"use": "notAllowed"}`.
    pub fn not_allowed() -> TrainingMiningEntry {
        TrainingMiningEntry {
            usage: Usage::NotAllowed,
            constraint_info: None,
        }
    }

    /// `{"use": "constrained", "constraint_info": info}`.
    pub fn constrained(info: impl Into<String>) -> TrainingMiningEntry {
        TrainingMiningEntry {
            usage: Usage::Constrained,
            constraint_info: Some(info.into()),
        }
    }
}

/// A CAWG `use` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Usage {
    /// `"allowed"`.
    Allowed,
    /// `"notAllowed"`.
    NotAllowed,
    /// `"constrained"`: allowed under the entry's `constraint_info`.
    Constrained,
}

/// Policy code for a policy kind (1–5, in [`PolicyKind::ALL`] order); 0 for
/// a policy that is not one of the standard kinds.
pub fn policy_code(kind: Option<PolicyKind>) -> u8 {
    kind.and_then(|k| PolicyKind::ALL.iter().position(|&a| a == k))
        .map_or(0, |i| i as u8 + 1)
}

/// The policy kind of a code, `None` for 0 (custom) or an unknown code.
pub fn policy_from_code(code: u8) -> Option<PolicyKind> {
    PolicyKind::ALL
        .get(usize::from(code).checked_sub(1)?)
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn policy_json_is_the_cawg_structure() {
        let policy = Policy::from_kind(PolicyKind::NoAiTraining);
        assert_eq!(
            serde_json::to_value(&policy.cawg_training_mining).expect("serialises"),
            json!({"entries": {
                "cawg.ai_training": {"use": "notAllowed"},
                "cawg.ai_generative_training": {"use": "notAllowed"},
                "cawg.data_mining": {"use": "notAllowed"},
                "cawg.ai_inference": {"use": "allowed"}
            }})
        );
        assert_eq!(
            serde_json::to_value(&policy).expect("serialises"),
            json!({
                "plus_data_mining": "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING",
                "tdm_reservation": 1,
                "cawg_training_mining": serde_json::to_value(&policy.cawg_training_mining)
                    .expect("serialises"),
                "notice": "AI/ML training prohibited. Text and data mining rights reserved \
                           (Art. 4(3) Directive (EU) 2019/790)."
            })
        );
        let search = Policy::from_kind(PolicyKind::SearchOnly);
        assert_eq!(
            serde_json::to_value(&search.cawg_training_mining).expect("serialises"),
            json!({"entries": {
                "cawg.ai_training": {"use": "notAllowed"},
                "cawg.ai_generative_training": {"use": "notAllowed"},
                "cawg.data_mining": {"use": "constrained",
                                     "constraint_info": "search engine indexing only"},
                "cawg.ai_inference": {"use": "notAllowed"}
            }})
        );
        let genai = Policy::from_kind(PolicyKind::NoGenAiTraining).cawg_training_mining;
        assert_eq!(
            genai.entries.ai_generative_training.usage,
            Usage::NotAllowed
        );
        assert_eq!(genai.entries.ai_training.usage, Usage::Allowed);
        let allow = Policy::from_kind(PolicyKind::Allow);
        assert_eq!(allow.tdm_reservation, 0);
        assert_eq!(
            allow.plus_data_mining,
            "http://ns.useplus.org/ldf/vocab/DMI-ALLOWED"
        );
        assert_eq!(
            Policy::from_kind(PolicyKind::NoDataMining)
                .cawg_training_mining
                .entries
                .ai_inference
                .usage,
            Usage::NotAllowed
        );
    }

    #[test]
    fn policy_kinds_parse_and_round_trip() {
        for kind in PolicyKind::ALL {
            assert_eq!(kind.name().parse::<PolicyKind>(), Ok(kind));
            let policy = Policy::from_kind(kind);
            assert_eq!(policy.kind(), Some(kind));
            assert_eq!(policy.notice, kind.notice());
            assert!(policy.notice.ends_with('.'));
            let json = serde_json::to_string(&policy).expect("serialises");
            assert_eq!(
                serde_json::from_str::<Policy>(&json).expect("parses"),
                policy
            );
        }
        assert_eq!(PolicyKind::default(), PolicyKind::NoAiTraining);
        let err = "no-ai".parse::<PolicyKind>().expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "unknown policy \"no-ai\" (expected one of: no-ai-training, no-genai-training, \
             no-data-mining, search-only, allow)"
        );
    }

    #[test]
    fn policy_codes_round_trip() {
        for kind in PolicyKind::ALL {
            assert_eq!(policy_from_code(policy_code(Some(kind))), Some(kind));
        }
        assert_eq!(policy_code(None), 0);
        assert_eq!(policy_from_code(0), None);
        assert_eq!(policy_from_code(200), None);
    }
}
