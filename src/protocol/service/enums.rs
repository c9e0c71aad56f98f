//! The small integer enums of the ServiceProtocol (`enums.cs`, `AckStatus.cs` and the handshake's
//! connection type). Readers are lenient: a value this side does not know is kept as `Unrecognized(n)`
//! and written back unchanged, except for ConnectionFlowControl whose reader rejects unknown
//! values as the SDK's does.

/// Declares an open enum: known values by name, anything else kept as `Unrecognized(i32)`.
macro_rules! open_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $value:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
            /// A value this side does not know, kept as it was sent.
            Unrecognized(i32),
        }

        impl $name {
            /// The wire value.
            pub fn value(self) -> i32 {
                match self {
                    $($name::$variant => $value,)+
                    $name::Unrecognized(value) => value,
                }
            }

            /// The variant for a wire value.
            pub fn from_value(value: i32) -> Self {
                match value {
                    $($value => $name::$variant,)+
                    other => $name::Unrecognized(other),
                }
            }
        }
    };
}

open_enum! {
    /// What a server connection is for (HandshakeRequest `connectionType`).
    ServerConnectionType {
        /// Carries clients; the service always accepts it.
        Default = 0,
        /// Opened on a `target` ping; carries clients, may be rejected.
        OnDemand = 1,
        /// Carries no clients, can only send (the Management SDK).
        Weak = 2,
    }
}

open_enum! {
    /// What a ConnectionData payload holds (extension key 5).
    DataMessageType {
        /// Not tagged (the SDK writes no key for it).
        Unknown = 0,
        /// The hub's handshake response.
        Handshake = 1,
        /// An invocation, stream item or completion.
        Invocation = 2,
        /// Anything else (pings, acks, ...).
        Other = 3,
        /// The hub's Close message.
        Close = 4,
    }
}

open_enum! {
    /// The kind of object a ServiceEvent is about.
    ServiceEventObjectType {
        /// A service instance.
        ServiceInstance = 0,
        /// A client connection.
        Connection = 1,
        /// A user.
        User = 2,
        /// A group.
        Group = 3,
        /// A server connection.
        ServerConnection = 4,
    }
}

open_enum! {
    /// What a ServiceEvent reports.
    ServiceEventKind {
        /// The object is reloading.
        Reloading = 0,
        /// The object is invalid.
        Invalid = 1,
        /// The object does not exist.
        NotExisted = 2,
        /// A buffer is full.
        BufferFull = 3,
    }
}

open_enum! {
    /// The result of an ackable operation (Ack `status`).
    AckStatus {
        /// Done (for Check* messages: exists).
        Ok = 1,
        /// Not found (for Check* messages: does not exist).
        NotFound = 2,
        /// Timed out.
        Timeout = 3,
        /// Failed inside the service.
        InternalServerError = 4,
    }
}

/// Which side a ConnectionFlowControl message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowControlTarget {
    /// A client connection (`connectionId` names the client).
    Client,
    /// A server connection (`connectionId` names the server connection's cid).
    Server,
}

/// What a ConnectionFlowControl message asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowControlOperation {
    /// Stop forwarding the client's output.
    Pause,
    /// The answer to Pause.
    PauseAck,
    /// Continue (on another server connection: the client moves there).
    Resume,
    /// The server connection goes offline; stop writing on it.
    Offline,
}

impl FlowControlTarget {
    /// The wire value (`ConnectionType` in the SDK).
    pub fn value(self) -> i32 {
        match self {
            FlowControlTarget::Client => 1,
            FlowControlTarget::Server => 2,
        }
    }

    /// The variant for a wire value; `None` for values the SDK rejects too.
    pub fn from_value(value: i32) -> Option<Self> {
        match value {
            1 => Some(FlowControlTarget::Client),
            2 => Some(FlowControlTarget::Server),
            _ => None,
        }
    }
}

impl FlowControlOperation {
    /// The wire value (`ConnectionFlowControlOperation` in the SDK).
    pub fn value(self) -> i32 {
        match self {
            FlowControlOperation::Pause => 1,
            FlowControlOperation::PauseAck => 2,
            FlowControlOperation::Resume => 3,
            FlowControlOperation::Offline => 4,
        }
    }

    /// The variant for a wire value; `None` for values the SDK rejects too.
    pub fn from_value(value: i32) -> Option<Self> {
        match value {
            1 => Some(FlowControlOperation::Pause),
            2 => Some(FlowControlOperation::PauseAck),
            3 => Some(FlowControlOperation::Resume),
            4 => Some(FlowControlOperation::Offline),
            _ => None,
        }
    }
}
