//! The GroupMemberQuery result that travels as MessagePack in `Ack.payload` (not framed):
//! `[[[connectionId, userId], ...], continuationToken]`, as `GroupMemberQueryResponse.cs` and
//! `GroupMember.cs` write it.

use bytes::Bytes;
use rmp::encode::{self as enc, ByteBuf};

use super::ServiceProtocolError;
use super::cursor::Cursor;

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
        array_len(&mut out, 2);
        array_len(&mut out, self.members.len());
        for member in &self.members {
            array_len(&mut out, 2);
            str(&mut out, Some(&member.connection_id));
            str(&mut out, member.user_id.as_deref());
        }
        str(&mut out, self.continuation_token.as_deref());
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

fn array_len(out: &mut ByteBuf, len: usize) {
    let Ok(_) = enc::write_array_len(out, u32::try_from(len).unwrap_or(u32::MAX));
}

fn str(out: &mut ByteBuf, s: Option<&str>) {
    match s {
        Some(s) => {
            let Ok(()) = enc::write_str(out, s);
        }
        None => {
            let Ok(()) = enc::write_nil(out);
        }
    }
}
