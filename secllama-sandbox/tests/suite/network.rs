//! No network: not to the host's loopback, not to its abstract sockets, no name lookups.

use std::io::ErrorKind;
use std::net::{TcpListener, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{SocketAddr, UnixDatagram, UnixListener, UnixStream};

use secllama_sandbox::{Layer, SandboxPolicy, Strictness};

use super::helpers::{EACCES, ENOENT, EPERM, op, run, tempdir};

#[test]
fn tcp_connect_to_a_listener_on_the_hosts_loopback_is_refused_with_eperm() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    // The control: the same connect works from outside the sandbox.
    drop(std::net::TcpStream::connect(addr).unwrap());
    let _ = listener.accept().unwrap();

    let connect = op("tcp-connect", addr);
    let a = run(&SandboxPolicy::new(), &[&connect]);
    a.assert_err(&connect, EPERM);
    assert_eq!(
        listener.accept().unwrap_err().kind(),
        ErrorKind::WouldBlock,
        "no connection may arrive"
    );
}

#[test]
fn new_sockets_of_every_family_and_datagram_socketpairs_are_refused_with_eperm() {
    let a = run(
        &SandboxPolicy::new(),
        &[
            "socket=inet",
            "socket=inet6",
            "socket=packet",
            "socket=netlink",
            "socket=unix",
            "socketpair=stream",
            "socketpair=dgram",
        ],
    );
    for family in ["inet", "inet6", "packet", "netlink", "unix"] {
        a.assert_err(&format!("socket={family}"), EPERM);
    }
    // A connected stream pair reaches nothing but itself; a datagram pair could send anywhere.
    assert_eq!(a.assert_ok("socketpair=stream"), "created");
    a.assert_err("socketpair=dgram", EPERM);
}

#[test]
fn udp_send_to_the_hosts_loopback_is_refused_with_eperm_and_nothing_arrives() {
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver.set_nonblocking(true).unwrap();
    let send = op("udp-send", receiver.local_addr().unwrap());
    let a = run(&SandboxPolicy::new(), &[&send]);
    a.assert_err(&send, EPERM);
    let mut buf = [0u8; 16];
    assert_eq!(
        receiver.recv_from(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
}

#[test]
fn a_dns_lookup_fails_with_eai_again() {
    // Without /etc/resolv.conf (not in the policy) glibc would ask 127.0.0.1:53, and its UDP
    // socket is refused; getaddrinfo reports EAI_AGAIN (-3). `localhost` fails the same way:
    // /etc/hosts is not readable either.
    let a = run(
        &SandboxPolicy::new(),
        &[
            "dns=secllama-probe.invalid",
            "dns=localhost",
            "read=/etc/resolv.conf",
        ],
    );
    a.assert_err("dns=secllama-probe.invalid", "eai:-3");
    a.assert_err("dns=localhost", "eai:-3");
    a.assert_err("read=/etc/resolv.conf", ENOENT);
}

fn abstract_listener(tag: &str) -> (UnixListener, String) {
    let name = format!("secllama-test-{tag}-{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    (UnixListener::bind_addr(&addr).unwrap(), name)
}

#[test]
fn an_abstract_unix_socket_of_the_host_is_unreachable() {
    let (listener, name) = abstract_listener("abs");
    listener.set_nonblocking(true).unwrap();
    let connect = op("abstract-connect", &name);
    let a = run(&SandboxPolicy::new(), &[&connect]);
    a.assert_err(&connect, EPERM); // no new socket at all
    assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
}

#[test]
fn a_pathname_unix_socket_of_the_host_like_the_session_bus_is_unreachable() {
    // Landlock before ABI 9 does not mediate connecting to a pathname socket, and the path walk
    // needs no read right: the socket itself must not be creatable.
    let dir = tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let stream_path = dir.path().join("bus");
    let listener = UnixListener::bind(&stream_path).unwrap();
    listener.set_nonblocking(true).unwrap();
    let dgram_path = dir.path().join("log");
    let receiver = UnixDatagram::bind(&dgram_path).unwrap();
    receiver.set_nonblocking(true).unwrap();
    for p in [&stream_path, &dgram_path] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    // The control: reachable from outside the sandbox.
    drop(UnixStream::connect(&stream_path).unwrap());
    let _ = listener.accept().unwrap();

    let (connect, send) = (
        op("unix-connect", stream_path.display()),
        op("dgram-sendto", dgram_path.display()),
    );
    let a = run(
        &SandboxPolicy::new().read_write(dir.path()),
        &[&connect, &send],
    );
    a.assert_err(&connect, EPERM);
    a.assert_err(&send, EPERM);
    assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    assert_eq!(
        receiver.recv(&mut [0u8; 8]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
}

// Defence in depth: each network layer holds on its own. The test-only switch removes the
// layers in front of the one under test (best-effort mode, since strict mode would refuse).

#[test]
fn with_seccomp_off_landlock_alone_refuses_tcp_connect_with_eacces() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let connect = op("tcp-connect", listener.local_addr().unwrap());
    let policy = SandboxPolicy::new()
        .strictness(Strictness::BestEffort)
        .simulate_unavailable(Layer::Seccomp);
    let a = run(&policy, &[&connect, "socket=inet"]);
    assert_eq!(a.assert_ok("socket=inet"), "created");
    a.assert_err(&connect, EACCES);
}

#[test]
fn with_seccomp_and_landlock_off_the_network_namespace_alone_leaves_nothing_to_route_to() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let connect = op("tcp-connect", listener.local_addr().unwrap());
    let policy = SandboxPolicy::new()
        .strictness(Strictness::BestEffort)
        .simulate_unavailable(Layer::Seccomp)
        .simulate_unavailable(Layer::LandlockFilesystem);
    let a = run(&policy, &[&connect]);
    a.assert_err(&connect, "101"); // ENETUNREACH: lo is down, there is no route at all
}

#[test]
fn with_seccomp_off_the_network_namespace_alone_hides_the_abstract_socket() {
    let (_listener, name) = abstract_listener("netns");
    let connect = op("abstract-connect", &name);
    let policy = SandboxPolicy::new()
        .strictness(Strictness::BestEffort)
        .simulate_unavailable(Layer::Seccomp)
        .simulate_unavailable(Layer::LandlockFilesystem);
    let a = run(&policy, &[&connect]);
    // Abstract names live in the network namespace: the sandbox's has no such name.
    a.assert_err(&connect, "111"); // ECONNREFUSED
}

#[test]
fn with_seccomp_and_the_namespaces_off_landlock_scoping_alone_refuses_the_abstract_socket() {
    let (_listener, name) = abstract_listener("scope");
    let connect = op("abstract-connect", &name);
    let policy = SandboxPolicy::new()
        .strictness(Strictness::BestEffort)
        .simulate_unavailable(Layer::Seccomp)
        .simulate_unavailable(Layer::NetworkNamespace)
        .simulate_unavailable(Layer::UserNamespace);
    let a = run(&policy, &[&connect]);
    a.assert_err(&connect, EPERM);
}
