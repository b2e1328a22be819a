//! The Discord voice v8 UDP packet path, server side, for the Spectrus SFU.
//!
//! This crate is sans-I/O: it never opens a socket and never reads a clock. Callers hand it
//! a datagram, the address it came from and the current time, and it decides what happens:
//! which datagrams to send where, and which counter to bump. `spectrus-media-native` wraps
//! it in UDP sockets and threads; the fuzz target and the unit tests drive it directly.
//!
//! The pieces, in the order a datagram meets them:
//!
//! - [`wire`]: demultiplexing (IP discovery, keep-alive, RTCP, RTP) and the RTP header
//!   parse that finds the `*_rtpsize` AAD boundary.
//! - [`crypto`]: the two AEAD modes Discord voice v8 offers, opened and sealed in place.
//! - [`replay`]: the per-sender sliding window over the 32-bit nonce counter.
//! - [`discovery`]: the 74-byte IP discovery request and response.
//! - [`router`]: sessions, rooms and fan-out; the one entry point is
//!   [`Router::process`] (or [`RouterView::process`] for a batch under one lock).
//! - [`counters`]: what happened to each datagram, counted by reason.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod counters;
pub mod crypto;
pub mod discovery;
pub mod replay;
pub mod router;
pub mod wire;

pub use counters::{Counters, DropReason, Outcome};
pub use crypto::{Cipher, Mode, KEY_LEN, NONCE_SUFFIX_LEN, TAG_LEN};
pub use router::{ControlError, Router, RouterView, MAX_DATAGRAM};
