//! `update` (P-06 §5.3): a follower hands the hub a proposal or commit (a HandshakeBundle).

use super::common_mls::{PartialGroupInfo, RatchetTreeOption};
use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use crate::fields::{Field, Opaque, Text};
use crate::mls_objects::{GroupInfo, MlsMessage, Welcome};
use crate::render::Render;
use crate::wire_enum;
use serde_json::{json, Value};

/// `GroupInfoOption`: the committer's GroupInfo, full or partial.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupInfoOption {
    Full(GroupInfo),
    Partial(PartialGroupInfo),
}

impl Decode for GroupInfoOption {
    const NAME: &'static str = "GroupInfoOption";
    fn decode_fields(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("representation")? {
            1 => Ok(Self::Full(r.read()?)),
            2 => Ok(Self::Partial(r.read()?)),
            other => Err(r.error(
                "representation",
                format!("{other} is not full(1) or partial(2)"),
            )),
        }
    }
}

impl Encode for GroupInfoOption {
    fn encode(&self, w: &mut Writer) {
        match self {
            Self::Full(g) => {
                w.u8(1);
                w.write(g)
            }
            Self::Partial(p) => {
                w.u8(2);
                w.write(p)
            }
        }
    }
}

impl Render for GroupInfoOption {
    fn render(&self) -> Value {
        match self {
            Self::Full(g) => json!({"representation": "full", "groupInfo": g.render()}),
            Self::Partial(p) => {
                json!({"representation": "partial", "partialGroupInfo": p.render()})
            }
        }
    }
}

/// `HandshakeBundle`, the body of `update` (`UpdateRequest` has no protocol byte: §9 item 7).
#[derive(Debug, Clone, PartialEq)]
pub struct HandshakeBundle {
    pub proposal_or_commit: MlsMessage,
    pub rest: BundleRest,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BundleRest {
    Commit {
        welcome: Option<Box<Welcome>>,
        group_info_option: Box<GroupInfoOption>,
        ratchet_tree_option: RatchetTreeOption,
    },
    Proposal {
        more_proposals: Vec<MlsMessage>,
    },
}

pub const CONTENT_TYPE_PROPOSAL: u8 = 2;
pub const CONTENT_TYPE_COMMIT: u8 = 3;

impl Decode for HandshakeBundle {
    const NAME: &'static str = "HandshakeBundle";
    fn decode_fields(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let proposal_or_commit: MlsMessage = r.read()?;
        let rest = match proposal_or_commit.content_type() {
            Some(CONTENT_TYPE_COMMIT) => BundleRest::Commit {
                welcome: r.optional("welcome", |r| r.read().map(Box::new))?,
                group_info_option: Box::new(r.read()?),
                ratchet_tree_option: r.read()?,
            },
            Some(CONTENT_TYPE_PROPOSAL) => BundleRest::Proposal {
                more_proposals: r.vector("moreProposals", |r| r.read())?,
            },
            other => {
                let mut e = r.error(
                    "proposalOrCommit",
                    format!(
                        "a {} message, not a proposal or commit",
                        other.map_or("non-protocol".into(), |c| format!("content type {c}"))
                    ),
                );
                e.offset = start;
                return Err(e);
            }
        };
        Ok(Self {
            proposal_or_commit,
            rest,
        })
    }
}

impl Encode for HandshakeBundle {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.proposal_or_commit);
        match &self.rest {
            BundleRest::Commit {
                welcome,
                group_info_option,
                ratchet_tree_option,
            } => {
                w.optional(welcome, |w, x| w.write(x.as_ref()));
                w.write(group_info_option.as_ref());
                w.write(ratchet_tree_option);
            }
            BundleRest::Proposal { more_proposals } => more_proposals.write(w),
        }
    }
}

impl Render for HandshakeBundle {
    fn render(&self) -> Value {
        let mut v = json!({"proposalOrCommit": self.proposal_or_commit.render()});
        match &self.rest {
            BundleRest::Commit {
                welcome,
                group_info_option,
                ratchet_tree_option,
            } => {
                v["welcome"] = welcome.as_ref().map_or(Value::Null, |w| w.render());
                v["groupInfoOption"] = group_info_option.render();
                v["ratchetTreeOption"] = ratchet_tree_option.render();
            }
            BundleRest::Proposal { more_proposals } => v["moreProposals"] = more_proposals.show(),
        }
        v
    }
}

wire_enum!(
    /// UpdateResponseCode.
    UpdateResponseCode: u8 { success = 0, wrongEpoch = 1, notAllowed = 2, invalidProposal = 3 }
);

/// `UpdateRoomResponse`.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateRoomResponse {
    pub response_code: UpdateResponseCode,
    pub error_description: Text,
    pub outcome: UpdateOutcome,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UpdateOutcome {
    Success { accepted_timestamp: u64 },
    WrongEpoch { current_epoch: u64 },
    InvalidProposal { invalid_proposals: Vec<Opaque> },
    Other,
}

impl Decode for UpdateRoomResponse {
    const NAME: &'static str = "UpdateRoomResponse";
    fn decode_fields(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let response_code = UpdateResponseCode::read(r, "responseCode")?;
        let error_description = Text::read(r, "errorDescription")?;
        let outcome = match response_code {
            UpdateResponseCode::success => UpdateOutcome::Success {
                accepted_timestamp: r.u64("accepted_timestamp")?,
            },
            UpdateResponseCode::wrongEpoch => UpdateOutcome::WrongEpoch {
                current_epoch: r.u64("currentEpoch")?,
            },
            UpdateResponseCode::invalidProposal => UpdateOutcome::InvalidProposal {
                invalid_proposals: Field::read(r, "invalidProposals")?,
            },
            _ => UpdateOutcome::Other,
        };
        Ok(Self {
            response_code,
            error_description,
            outcome,
        })
    }
}

impl Encode for UpdateRoomResponse {
    fn encode(&self, w: &mut Writer) {
        self.response_code.write(w);
        self.error_description.write(w);
        match &self.outcome {
            UpdateOutcome::Success { accepted_timestamp } => w.u64(*accepted_timestamp),
            UpdateOutcome::WrongEpoch { current_epoch } => w.u64(*current_epoch),
            UpdateOutcome::InvalidProposal { invalid_proposals } => invalid_proposals.write(w),
            UpdateOutcome::Other => {}
        }
    }
}

impl Render for UpdateRoomResponse {
    fn render(&self) -> Value {
        let mut v = json!({"responseCode": self.response_code.show(), "errorDescription": self.error_description.show()});
        match &self.outcome {
            UpdateOutcome::Success { accepted_timestamp } => {
                v["accepted_timestamp"] = json!(accepted_timestamp)
            }
            UpdateOutcome::WrongEpoch { current_epoch } => v["currentEpoch"] = json!(current_epoch),
            // ProposalRefs are identifiers: shown whole, so that a case can compare them.
            UpdateOutcome::InvalidProposal { invalid_proposals } => {
                v["invalidProposals"] = invalid_proposals
                    .iter()
                    .map(|r| Value::String(hex::encode(&r.0)))
                    .collect()
            }
            UpdateOutcome::Other => {}
        }
        v
    }
}
