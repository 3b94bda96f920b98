//! `labd pipe <port>`: joins stdin and stdout to this container's own TCP port, so the driver
//! reaches labd's APIs through `docker exec` on the container's node (its control path to labs
//! on another machine, whose lab addresses it cannot route to) as if it had dialled them.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpStream};

/// Copy stdin to `127.0.0.1:port` and what comes back to stdout until both sides are done:
/// the driver closing stdin ends the request side, labd closing the connection the other.
/// Two threads, two pids under the container's limit, for the life of one pooled connection.
pub fn pipe(port: u16) -> std::io::Result<()> {
    let upstream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    upstream.set_nodelay(true)?;
    let mut from_labd = upstream.try_clone()?;
    let answers = std::thread::spawn(move || copy_flushing(&mut from_labd, &mut std::io::stdout()));
    let mut to_labd = &upstream;
    let sent = copy_flushing(&mut std::io::stdin(), &mut to_labd);
    // Whatever ended the request side, labd hears the end of it and finishes answering.
    let _ = upstream.shutdown(Shutdown::Write);
    let answered = answers
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("the answer thread panicked")));
    sent.and(answered)
}

/// `std::io::copy`, flushing after every read: an HTTP answer must reach the driver when it is
/// written, not when a buffer fills.
fn copy_flushing(from: &mut impl Read, to: &mut impl Write) -> std::io::Result<()> {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) => return to.flush(),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buffer[..n])?;
        to.flush()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copying_flushes_everything_and_ends_at_end_of_input() {
        let mut to = Vec::new();
        copy_flushing(&mut &b"GET / HTTP/1.1\r\n\r\n"[..], &mut to).unwrap();
        assert_eq!(to, b"GET / HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn a_port_nothing_listens_on_is_an_error_not_a_hang() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        assert!(pipe(port).is_err());
    }
}
