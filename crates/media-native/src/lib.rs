//! `spectrus_media_native`: the voice SFU's packet path, for Python.
//!
//! Python (the `media` service) runs the voice WebSocket, negotiates keys and decides who
//! is in which room; this module owns the UDP sockets and moves the packets. Receive
//! threads (module `worker`) read datagrams in batches (module `udp`), run them through
//! `voice_proto::Router` and send the fan-out in batches, all without the GIL. Python only
//! changes the routing table and reads counters.
//!
//! Errors cross the boundary as Python exceptions: `ValueError` and `KeyError` for bad
//! requests, `RoomFull` for a room at its limit, `OSError` for socket failures, and
//! `RuntimeError` for a closed router or a worker thread that panicked.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyKeyError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use voice_proto::{ControlError, Mode, KEY_LEN};

mod udp;
mod worker;

use worker::{Shared, Workers};

create_exception!(
    spectrus_media_native,
    RoomFull,
    PyException,
    "The room already holds as many sessions as its limit allows."
);

/// Most receive threads one router may run: far more than there are cores to feed them.
const MAX_THREADS: usize = 64;

/// A voice packet router bound to one UDP port.
#[pyclass(frozen, module = "spectrus_media_native")]
struct VoiceRouter {
    shared: Arc<Shared>,
    address: SocketAddr,
    /// `None` once closed.
    workers: Mutex<Option<Workers>>,
}

fn control_error(error: ControlError) -> PyErr {
    match error {
        ControlError::UnknownSession(id) => PyKeyError::new_err(id),
        ControlError::RoomFull { .. } => RoomFull::new_err(error.to_string()),
        ControlError::SessionIdInUse(_) | ControlError::SsrcInUse(_) => {
            PyValueError::new_err(error.to_string())
        }
    }
}

fn resolve(host: &str, port: u16) -> PyResult<SocketAddr> {
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| PyValueError::new_err(format!("{host:?} resolves to no address")))
}

impl VoiceRouter {
    /// Raises if the router can no longer do its job: closed, or a worker thread died.
    fn check(&self) -> PyResult<()> {
        self.check_panic()?;
        if self.shared.stopped() {
            return Err(PyRuntimeError::new_err("VoiceRouter is closed"));
        }
        Ok(())
    }

    fn check_panic(&self) -> PyResult<()> {
        match self.shared.panic_message() {
            Some(message) => Err(PyRuntimeError::new_err(format!(
                "a VoiceRouter receive thread panicked and stopped ({message}); close this \
                 router and start another"
            ))),
            None => Ok(()),
        }
    }

    fn shutdown(&self) {
        let workers = self
            .workers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(workers) = workers {
            workers.stop();
        }
    }
}

/// A mode name and key from Python, checked: ValueError for an unknown mode or a key of
/// the wrong length.
fn mode_and_key<'k>(mode: &str, key: &'k [u8]) -> PyResult<(Mode, &'k [u8; KEY_LEN])> {
    let mode: Mode = mode
        .parse()
        .map_err(|e| PyValueError::new_err(format!("{e}")))?;
    let key: &[u8; KEY_LEN] = key.try_into().map_err(|_| {
        PyValueError::new_err(format!("key must be {KEY_LEN} bytes, not {}", key.len()))
    })?;
    Ok((mode, key))
}

#[pymethods]
impl VoiceRouter {
    /// Binds `threads` UDP sockets on `host:port` (port 0 picks a free one) and starts
    /// one receive thread for each.
    #[new]
    #[pyo3(signature = (host = "127.0.0.1", port = 0, threads = 1))]
    fn new(py: Python<'_>, host: &str, port: u16, threads: usize) -> PyResult<Self> {
        if !(1..=MAX_THREADS).contains(&threads) {
            return Err(PyValueError::new_err(format!(
                "threads must be between 1 and {MAX_THREADS}, not {threads}"
            )));
        }
        let requested = resolve(host, port)?;
        let shared = Arc::new(Shared::new());
        let (workers, address) = py.detach(|| -> std::io::Result<_> {
            let (sockets, address) = worker::bind(requested, threads)?;
            Ok((Workers::start(&shared, sockets)?, address))
        })?;
        Ok(VoiceRouter {
            shared,
            address,
            workers: Mutex::new(Some(workers)),
        })
    }

    /// The bound host and port.
    #[getter]
    fn address(&self) -> PyResult<(String, u16)> {
        self.check()?;
        Ok((self.address.ip().to_string(), self.address.port()))
    }

    /// Adds a voice session. `room_id` 0 means in no room.
    fn add_session(
        &self,
        py: Python<'_>,
        session_id: u64,
        ssrc: u32,
        room_id: u64,
        mode: &str,
        key: &[u8],
    ) -> PyResult<()> {
        self.check()?;
        let (mode, key) = mode_and_key(mode, key)?;
        let router = &self.shared.router;
        py.detach(|| router.add_session(session_id, ssrc, room_id, mode, key))
            .map_err(control_error)
    }

    /// Replaces a session's mode and key, keeping its SSRC, room, flags and address.
    fn set_mode(&self, py: Python<'_>, session_id: u64, mode: &str, key: &[u8]) -> PyResult<()> {
        self.check()?;
        let (mode, key) = mode_and_key(mode, key)?;
        let router = &self.shared.router;
        py.detach(|| router.rekey(session_id, mode, key))
            .map_err(control_error)
    }

    /// Removes a session; False if there was none.
    fn remove_session(&self, py: Python<'_>, session_id: u64) -> PyResult<bool> {
        self.check()?;
        let router = &self.shared.router;
        Ok(py.detach(|| router.remove_session(session_id)))
    }

    /// Moves a session to another room (0 = none).
    fn move_session(&self, py: Python<'_>, session_id: u64, room_id: u64) -> PyResult<()> {
        self.check()?;
        let router = &self.shared.router;
        py.detach(|| router.move_session(session_id, room_id))
            .map_err(control_error)
    }

    /// Sets server mute and deafen.
    #[pyo3(signature = (session_id, *, muted, deafened))]
    fn set_flags(
        &self,
        py: Python<'_>,
        session_id: u64,
        muted: bool,
        deafened: bool,
    ) -> PyResult<()> {
        self.check()?;
        let router = &self.shared.router;
        py.detach(|| router.set_flags(session_id, muted, deafened))
            .map_err(control_error)
    }

    /// Limits how many sessions later add/move calls may put in a room (0 = unlimited).
    fn set_room_limit(&self, py: Python<'_>, room_id: u64, limit: u32) -> PyResult<()> {
        self.check()?;
        let router = &self.shared.router;
        py.detach(|| router.set_room_limit(room_id, limit));
        Ok(())
    }

    /// The address the session's packets come from and go to, once known.
    fn session_address(&self, session_id: u64) -> PyResult<Option<(String, u16)>> {
        self.check()?;
        Ok(self
            .shared
            .router
            .session_address(session_id)
            .map(|a| (a.ip().to_canonical().to_string(), a.port())))
    }

    /// Seconds since the session's last authentic packet; None if none yet.
    fn session_idle(&self, session_id: u64) -> PyResult<Option<f64>> {
        self.check()?;
        let heard = self
            .shared
            .router
            .last_heard(session_id)
            .map_err(control_error)?;
        let now = self.shared.now_ms();
        Ok(heard.map(|at| now.saturating_sub(at) as f64 / 1000.0))
    }

    /// Every counter and every drop reason (`dropped_<reason>`), always all keys. Still
    /// answers after close(), with the final totals.
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.check_panic()?;
        let dict = PyDict::new(py);
        for (name, value) in self.shared.counters() {
            dict.set_item(name, value)?;
        }
        Ok(dict)
    }

    /// Stops and joins the receive threads and closes the sockets. Idempotent.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.shutdown());
    }

    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().check()?;
        Ok(slf)
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) {
        self.close(py);
    }

    fn __repr__(&self) -> String {
        let state = if self.shared.stopped() {
            "closed"
        } else {
            "open"
        };
        format!("<VoiceRouter {} {state}>", self.address)
    }
}

impl Drop for VoiceRouter {
    fn drop(&mut self) {
        // Garbage collection without close() must not leak threads or sockets. The threads
        // never take the GIL, so joining them here cannot deadlock.
        self.shutdown();
    }
}

#[pymodule]
fn spectrus_media_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<VoiceRouter>()?;
    m.add("RoomFull", py.get_type::<RoomFull>())?;
    m.add("MODES", PyTuple::new(py, Mode::ALL.map(Mode::as_str))?)?;
    m.add("MAX_DATAGRAM", voice_proto::MAX_DATAGRAM)?;
    Ok(())
}
