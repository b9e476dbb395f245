//! `notify` (P-06 §5.5): the hub fans messages out to followers; a body holds one or more
//! FanoutMessages back to back. The draft's select mixes wire formats and content types
//! (§9 item 8); we dispatch on the wire format, then on the content type.

use super::common_mls::RatchetTreeOption;
use super::submit::Frank;
use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use crate::fields::Field;
use crate::mls_objects::MlsMessage;
use crate::render::Render;
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct FanoutMessage {
    /// The hub's acceptance time, ms since the UNIX epoch.
    pub timestamp: u64,
    pub message: MlsMessage,
    pub rest: FanoutRest,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FanoutRest {
    Application {
        frank: Option<Frank>,
    },
    Welcome {
        ratchet_tree_option: RatchetTreeOption,
    },
    Proposal {
        more_proposals: Vec<MlsMessage>,
    },
    /// Proposals the hub regenerated after an external commit.
    Commit {
        external_proposals: Vec<MlsMessage>,
    },
}

impl Decode for FanoutMessage {
    const NAME: &'static str = "FanoutMessage";
    fn decode_fields(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let timestamp = r.u64("timestamp")?;
        let start = r.offset();
        let message: MlsMessage = r.read()?;
        let rest = match (message.wire_format(), message.content_type()) {
            (3, _) => FanoutRest::Welcome {
                ratchet_tree_option: r.read()?,
            },
            (1 | 2, Some(1)) => FanoutRest::Application {
                frank: Field::read(r, "frank")?,
            },
            (1 | 2, Some(2)) => FanoutRest::Proposal {
                more_proposals: Field::read(r, "moreProposals")?,
            },
            (1 | 2, Some(3)) => FanoutRest::Commit {
                external_proposals: Field::read(r, "externalProposals")?,
            },
            (wire_format, _) => {
                let mut e = r.error(
                    "message",
                    format!("wire format {wire_format} is not fanned out"),
                );
                e.offset = start;
                return Err(e);
            }
        };
        Ok(Self {
            timestamp,
            message,
            rest,
        })
    }
}

impl Encode for FanoutMessage {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.timestamp);
        w.write(&self.message);
        match &self.rest {
            FanoutRest::Application { frank } => frank.write(w),
            FanoutRest::Welcome {
                ratchet_tree_option,
            } => w.write(ratchet_tree_option),
            FanoutRest::Proposal { more_proposals } => more_proposals.write(w),
            FanoutRest::Commit { external_proposals } => external_proposals.write(w),
        }
    }
}

impl Render for FanoutMessage {
    fn render(&self) -> Value {
        let mut v = json!({"timestamp": self.timestamp, "message": self.message.render()});
        match &self.rest {
            FanoutRest::Application { frank } => v["frank"] = frank.show(),
            FanoutRest::Welcome {
                ratchet_tree_option,
            } => v["ratchetTreeOption"] = ratchet_tree_option.render(),
            FanoutRest::Proposal { more_proposals } => v["moreProposals"] = more_proposals.show(),
            FanoutRest::Commit { external_proposals } => {
                v["externalProposals"] = external_proposals.show()
            }
        }
        v
    }
}

/// A `/notify` body: one or more FanoutMessages.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyBody(pub Vec<FanoutMessage>);

impl Decode for NotifyBody {
    const NAME: &'static str = "NotifyBody";
    fn decode_fields(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut messages = vec![r.read()?];
        while r.remaining() > 0 {
            messages.push(r.read()?);
        }
        Ok(Self(messages))
    }
}

impl Encode for NotifyBody {
    fn encode(&self, w: &mut Writer) {
        self.0.iter().for_each(|m| w.write(m));
    }
}

impl Render for NotifyBody {
    fn render(&self) -> Value {
        Value::Array(self.0.iter().map(Render::render).collect())
    }
}
