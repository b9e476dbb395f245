//! Room state in the GroupContext's `app_data_dictionary` (P-06 §7; draft-ietf-mls-extensions;
//! draft-ietf-mimi-room-policy): the participant list, room metadata, roles and base policy.

use crate::fields::{Opaque, Text};
use crate::{wire_enum, wire_struct};

pub const COMPONENT_FRANK_AAD: u16 = 0x0020;
pub const COMPONENT_FRANKING_SIGNATURE_KEY: u16 = 0x0021;
pub const COMPONENT_PARTICIPANT_LIST: u16 = 0x0022;
pub const COMPONENT_ROOM_METADATA: u16 = 0x0023;
/// Suggested in POL-03 §10.1; still TBD there (reference §9 item 11).
pub const COMPONENT_ROLES_LIST: u16 = 0x0025;
pub const COMPONENT_BASE_ROOM_POLICY: u16 = 0x0027;

wire_struct!(
    /// `ComponentData`.
    #[derive(Default)]
    ComponentData {
        component_id: u16 = "component_id",
        data: Opaque = "data",
    }
);

wire_struct!(
    /// `AppDataDictionary`: one entry per component, sorted by id.
    #[derive(Default)]
    AppDataDictionary {
        component_data: Vec<ComponentData> = "component_data",
    }
);

wire_enum!(
    /// AppDataUpdateOperation.
    AppDataUpdateOperation: u8 { invalid = 0, update = 1, remove = 2 }
);

wire_struct!(
    /// `UserRolePair`.
    UserRolePair {
        user: Opaque = "user",
        role_index: u32 = "role_index",
    }
);

wire_struct!(
    /// `ParticipantListData` (component 0x0022).
    #[derive(Default)]
    ParticipantListData {
        participants: Vec<UserRolePair> = "participants",
    }
);

wire_struct!(
    /// `UserindexRolePair`.
    UserindexRolePair {
        user_index: u32 = "user_index",
        role_index: u32 = "role_index",
    }
);

wire_struct!(
    /// `ParticipantListUpdate`: role changes, then removals, then appends.
    ParticipantListUpdate {
        changed_role_participants: Vec<UserindexRolePair> = "changedRoleParticipants",
        removed_indices: Vec<u32> = "removedIndices",
        added_participants: Vec<UserRolePair> = "addedParticipants",
    }
);

wire_struct!(
    /// `RichDescription`; an empty media type means text/plain;charset=utf-8.
    RichDescription {
        media_type: Text = "media_type",
        language_tag: Text = "language_tag",
        description_content: Opaque = "description_content",
    }
);

wire_struct!(
    /// `RoomMetaData` (component 0x0023); an update replaces it whole.
    RoomMetaData {
        room_uri: Text = "room_uri",
        room_name: Text = "room_name",
        room_descriptions: Vec<RichDescription> = "room_descriptions",
        room_avatar: Text = "room_avatar",
        room_subject: Text = "room_subject",
        room_mood: Text = "room_mood",
    }
);

wire_struct!(
    /// `SingleSourceRoleChangeTargets` (POL-03).
    SingleSourceRoleChangeTargets {
        from_role_index: u32 = "from_role_index",
        target_role_indexes: Vec<u32> = "target_role_indexes",
    }
);

wire_struct!(
    /// `Role` (POL-03 §3).
    Role {
        role_index: u32 = "role_index",
        role_name: Text = "role_name",
        role_description: Text = "role_description",
        role_capabilities: Vec<u16> = "role_capabilities",
        minimum_participants_constraint: u32 = "minimum_participants_constraint",
        maximum_participants_constraint: Option<u32> = "maximum_participants_constraint",
        minimum_active_participants_constraint: u32 = "minimum_active_participants_constraint",
        maximum_active_participants_constraint: Option<u32> = "maximum_active_participants_constraint",
        authorized_role_changes: Vec<SingleSourceRoleChangeTargets> = "authorized_role_changes",
    }
);

wire_struct!(
    /// `RoleData` (roles_list component).
    RoleData {
        roles: Vec<Role> = "roles",
    }
);

/// Role capabilities (POL-03 §10.2) the reference rooms use.
pub const CAN_ADD_PARTICIPANT: u16 = 0x0000;
pub const CAN_REMOVE_PARTICIPANT: u16 = 0x0001;
pub const CAN_OPEN_JOIN: u16 = 0x0004;
pub const CAN_REMOVE_SELF: u16 = 0x0006;
pub const CAN_SEND_MESSAGE: u16 = 0x0100;
pub const CAN_RECEIVE_MESSAGE: u16 = 0x0101;

impl RoleData {
    pub fn role(&self, index: u32) -> Option<&Role> {
        self.roles.iter().find(|r| r.role_index == index)
    }

    /// Whether the role with this index has the capability (no such role has none).
    pub fn allows(&self, index: u32, capability: u16) -> bool {
        self.role(index)
            .is_some_and(|r| r.role_capabilities.contains(&capability))
    }
}

impl Role {
    /// A role with only a name and capabilities, unconstrained.
    pub fn named(role_index: u32, name: &str, capabilities: &[u16]) -> Self {
        Self {
            role_index,
            role_name: Text(name.to_string()),
            role_description: Text(String::new()),
            role_capabilities: capabilities.to_vec(),
            minimum_participants_constraint: 0,
            maximum_participants_constraint: None,
            minimum_active_participants_constraint: 0,
            maximum_active_participants_constraint: None,
            authorized_role_changes: vec![],
        }
    }
}

wire_struct!(
    /// `BaseRoomPolicy` (POL-03 §5); booleans are uint8 0/1 on the wire.
    BaseRoomPolicy {
        fixed_membership: u8 = "fixed_membership",
        parent_dependant: u8 = "parent_dependant",
        parent_room: Vec<Text> = "parent_room",
        multi_device: u8 = "multi_device",
        max_clients: Option<u32> = "max_clients",
        max_users: Option<u32> = "max_users",
        pseudonyms_allowed: u8 = "pseudonyms_allowed",
        persistent_room: u8 = "persistent_room",
        discoverable: u8 = "discoverable",
        policy_component_ids: Vec<u16> = "policy_component_ids",
    }
);

wire_struct!(
    /// `FrankingAgentData` (component 0x0021 `franking_signature_key`, P-06 §5.4.1, §10.2): the
    /// key the hub signs franks with.
    FrankingAgentData {
        franking_signature_key: Opaque = "franking_signature_key",
        credential: crate::common::Credential = "credential",
    }
);
