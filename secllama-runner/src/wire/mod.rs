//! What host and runner share: the sealed frames, the messages inside them, the key-pipe
//! message and the runner's exit codes. `host` and `child` both import this module and never
//! each other.

pub(crate) mod exit;
pub(crate) mod frame;
pub(crate) mod key;
pub(crate) mod message;
pub(crate) mod printable;
pub(crate) mod writer;

pub use frame::Direction;
pub(crate) use frame::{FrameError, FrameReader, Mode};
pub use frame::{MAX_FRAME_LEN, PROTOCOL_VERSION};
pub use message::MAX_SLOTS;
pub(crate) use message::{HostMessage, LoadRequest, RunnerMessage, WireErrorKind};
pub(crate) use printable::{MAX_ERROR_TEXT_BYTES, MAX_NAME_BYTES, printable};
pub(crate) use writer::SharedWriter;
