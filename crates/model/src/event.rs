//! The event types a sensor reports and the data each carries.

use std::net::Ipv4Addr;

/// The known event types. Any other key in a submission's `events` makes it broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// A process was started.
    NewProcess,
    /// A network connection was made.
    NetworkConnection,
}

impl EventType {
    /// The name used as the key in a submission and as `type` in an output event.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::NewProcess => "new_process",
            EventType::NetworkConnection => "network_connection",
        }
    }

    /// The type for a key of a submission's `events`, if it is a known one.
    pub fn from_key(key: &str) -> Option<Self> {
        match key {
            "new_process" => Some(EventType::NewProcess),
            "network_connection" => Some(EventType::NetworkConnection),
            _ => None,
        }
    }
}

/// One validated event: its type and type-specific data. Exists only with valid data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventData {
    /// `{"cmdl": "...", "user": "..."}`
    NewProcess {
        /// The command line of the started process.
        cmdl: String,
        /// The user who started it.
        user: String,
    },
    /// `{"source_ip": "...", "destination_ip": "...", "destination_port": 443}`
    NetworkConnection {
        /// Source address.
        source_ip: Ipv4Addr,
        /// Destination address.
        destination_ip: Ipv4Addr,
        /// Destination port; 0 is valid (the fleet draws from 0..=65535).
        destination_port: u16,
    },
}

impl EventData {
    /// The type of this event.
    pub const fn event_type(&self) -> EventType {
        match self {
            EventData::NewProcess { .. } => EventType::NewProcess,
            EventData::NetworkConnection { .. } => EventType::NetworkConnection,
        }
    }
}
