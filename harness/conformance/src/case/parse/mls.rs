//! `mls` operations, each with its own arguments: an argument of another operation, an unknown
//! one, or a missing one is an error at its line.

use super::*;

impl<'a> Parser<'a> {
    pub(super) fn mls_operation(
        &mut self,
        frame: &Frame,
        operation: &Spanned<Node>,
        args: Option<&Spanned<Node>>,
        names: &Names,
    ) -> Option<MlsOperation> {
        let pos = Pos::of(operation);
        let op = self.string(frame, operation, "mls")?;
        let Some((op, allowed)) = MLS_OPERATIONS.iter().find(|(o, _)| *o == op) else {
            let known: Vec<&str> = MLS_OPERATIONS.iter().map(|(o, _)| *o).collect();
            self.error(
                frame,
                pos,
                format!("unknown mls operation {op:?}; known: {}", known.join(", ")),
            );
            return None;
        };
        let entries: &Entries = match args {
            None => &[],
            Some(node) => self.map(frame, node, "args")?,
        };
        let mut complete = true;
        for (key, value) in entries {
            if allowed.contains(&key.value.as_str()) {
                self.check_template(frame, &Template::of(value), names);
                continue;
            }
            complete = false;
            let theirs = match allowed {
                [] => format!("`mls: {op}` takes no arguments"),
                some => format!("its arguments: {}", some.join(", ")),
            };
            let elsewhere: Vec<String> = MLS_OPERATIONS
                .iter()
                .filter(|(_, args)| args.contains(&key.value.as_str()))
                .map(|(o, _)| format!("mls: {o}"))
                .collect();
            let message = match elsewhere.len() {
                0 => format!("unknown argument `{}` of `mls: {op}`; {theirs}", key.value),
                1 | 2 => format!(
                    "`{}` is an argument of {}, not of `mls: {op}`; {theirs}",
                    key.value,
                    either(&elsewhere)
                ),
                _ => format!(
                    "`{}` is not an argument of `mls: {op}`; {theirs}",
                    key.value
                ),
            };
            self.error(frame, Pos::of(key), message);
        }
        if !complete {
            return None;
        }
        let keys = Keys(entries);
        let room = |p: &mut Self| match keys.get("room") {
            Some(node) => p.field(frame, node, template::to_string),
            None => {
                p.error(frame, pos, format!("`mls: {op}` needs `room` in `args`"));
                None
            }
        };
        let flag = |p: &mut Self, k: &str, default: bool| match keys.get(k) {
            Some(node) => p.boolean(frame, node, k),
            None => Some(default),
        };
        Some(match *op {
            "state" => MlsOperation::State { room: room(self)? },
            "inbox" => MlsOperation::Inbox,
            "confirm" => MlsOperation::Confirm { room: room(self)? },
            "discard" => MlsOperation::Discard { room: room(self)? },
            "create-room" => MlsOperation::CreateRoom { room: room(self)? },
            "commit" => {
                let room = room(self);
                let mut add = Vec::new();
                if let Some(node) = keys.get("add") {
                    let Node::Seq(items) = &node.value else {
                        self.error(
                            frame,
                            Pos::of(node),
                            "add is a list of clients of this case",
                        );
                        return None;
                    };
                    for item in items {
                        add.push(self.client_name(frame, item)?);
                    }
                }
                let remove = match keys.get("remove") {
                    Some(n) => Some(self.field(frame, n, template::to_strings)?),
                    None => None,
                };
                let participants = match keys.get("participants") {
                    Some(n) => Some(self.field(frame, n, template::to_strings)?),
                    None => None,
                };
                let roles = match keys.get("roles") {
                    Some(n) => match serde_json::from_value::<Vec<RoleArg>>(n.value.to_json()) {
                        Ok(r) => Some(r),
                        Err(e) => {
                            self.error(
                                frame,
                                Pos::of(n),
                                format!("roles is a list of {{index, name, capabilities}}: {e}"),
                            );
                            return None;
                        }
                    },
                    None => None,
                };
                let private = flag(self, "private", false);
                let omit_pending = flag(self, "omitPending", false);
                MlsOperation::Commit(Box::new(CommitArgs {
                    room: room?,
                    add,
                    remove,
                    participants,
                    private: private?,
                    omit_pending: omit_pending?,
                    roles,
                }))
            }
            "propose" => {
                let room = room(self);
                let proposals = match keys.get("proposals") {
                    Some(node) => match &node.value {
                        Node::Seq(items) if !items.is_empty() => {
                            let mut out = Vec::new();
                            for item in items {
                                out.push(self.choice(
                                    frame,
                                    item,
                                    "a proposal",
                                    &[
                                        ("update", ProposalKind::Update),
                                        ("leave", ProposalKind::Leave),
                                    ],
                                )?);
                            }
                            out
                        }
                        _ => {
                            self.error(
                                frame,
                                Pos::of(node),
                                "proposals is a list of update and leave",
                            );
                            return None;
                        }
                    },
                    None => {
                        self.error(
                            frame,
                            pos,
                            "`mls: propose` needs `proposals`: update or leave",
                        );
                        return None;
                    }
                };
                let corrupt = flag(self, "corrupt", false);
                MlsOperation::Propose {
                    room: room?,
                    proposals,
                    corrupt: corrupt?,
                }
            }
            "message" => {
                let room = room(self);
                let content = match keys.get("content") {
                    Some(n) => self.field(frame, n, template::to_string),
                    None => {
                        self.error(
                            frame,
                            pos,
                            "`mls: message` needs `content` (MIMI content, base64)",
                        );
                        None
                    }
                };
                let kind = match keys.get("kind") {
                    None => Some(MessageKind::Application),
                    Some(n) => self.choice(
                        frame,
                        n,
                        "kind",
                        &[
                            ("application", MessageKind::Application),
                            ("proposal", MessageKind::Proposal),
                        ],
                    ),
                };
                let sending_uri = match keys.get("sendingUri") {
                    Some(n) => self.field(frame, n, template::to_string).map(Some),
                    None => Some(None),
                };
                let frank = flag(self, "frank", true);
                let notify = match keys.get("notify") {
                    None => Some(None),
                    Some(n) => self.unsigned(frame, n, "notify").and_then(|c| {
                        if (1..=64).contains(&c) {
                            Some(Some(c as usize))
                        } else {
                            self.error(
                                frame,
                                Pos::of(n),
                                "notify is a number of messages from 1 to 64",
                            );
                            None
                        }
                    }),
                };
                MlsOperation::Message(Box::new(MessageArgs {
                    room: room?,
                    content: content?,
                    frank: frank?,
                    kind: kind?,
                    sending_uri: sending_uri?,
                    notify: notify?,
                }))
            }
            "group-info-request" => MlsOperation::GroupInfoRequest {
                corrupt: match keys.get("signature") {
                    None => false,
                    Some(n) => self.choice(
                        frame,
                        n,
                        "signature",
                        &[("valid", false), ("corrupt", true)],
                    )?,
                },
            },
            _ => {
                let room = room(self);
                let key_material = match keys.get("keyMaterial") {
                    Some(n) => self.field(frame, n, template::to_string),
                    None => {
                        self.error(frame, pos, "`mls: add` needs `keyMaterial`: a KeyMaterialResponse, hex (`save: {claim: \"@body\"}`)");
                        None
                    }
                };
                MlsOperation::Add {
                    room: room?,
                    key_material: key_material?,
                }
            }
        })
    }
}
