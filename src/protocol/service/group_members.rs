//! The GroupMemberQuery result that travels as MessagePack in `Ack.payload` (not framed):
//! `[[[connectionId, userId], ...], continuationToken]`, as `GroupMemberQueryResponse.cs` and
//! `GroupMember.cs` write it.

use bytes::Bytes;
use rmp::encode::ByteBuf;

use super::ServiceProtocolError;
use super::cursor::Cursor;
use super::write::Writer;

/// One connection of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// The connection's id.
    pub connection_id: String,
    /// Its user, if it has one.
    pub user_id: Option<String>,
}

/// One page of a group's members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupMemberQueryResponse {
    /// The members on this page.
    pub members: Vec<GroupMember>,
    /// Where the next page starts; `None` on the last page.
    pub continuation_token: Option<String>,
}

impl GroupMemberQueryResponse {
    /// The MessagePack bytes for `Ack.payload`.
    pub fn encode(&self) -> Bytes {
        let mut out = ByteBuf::new();
        let mut writer = Writer(&mut out);
        writer.array_len(2);
        writer.array_len(self.members.len());
        for member in &self.members {
            writer.array_len(2);
            writer.str(&member.connection_id);
            writer.opt_str(member.user_id.as_deref());
        }
        writer.opt_str(self.continuation_token.as_deref());
        Bytes::from(out.into_vec())
    }

    /// Reads an `Ack.payload` written by [`encode`](Self::encode) or the SDK.
    pub fn parse(payload: &Bytes) -> Result<Self, ServiceProtocolError> {
        let mut cursor = Cursor::new(payload);
        let problem = |field: &str, problem: String| ServiceProtocolError::Field {
            message: "GroupMemberQueryResponse",
            field: field.to_owned(),
            problem,
        };
        cursor.array_len().map_err(|p| problem("response", p))?;
        let count = cursor.array_len().map_err(|p| problem("members", p))?;
        let mut members = Vec::with_capacity(cursor.capacity(count));
        for index in 0..count {
            let field = format!("members[{index}]");
            cursor.array_len().map_err(|p| problem(&field, p))?;
            members.push(GroupMember {
                connection_id: cursor.str().map_err(|p| problem(&field, p))?,
                user_id: cursor.opt_str().map_err(|p| problem(&field, p))?,
            });
        }
        let continuation_token = cursor
            .opt_str()
            .map_err(|p| problem("continuationToken", p))?;
        Ok(GroupMemberQueryResponse {
            members,
            continuation_token,
        })
    }
}
