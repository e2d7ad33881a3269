//! Ports and protocols of NetworkPolicy rules.
//!
//! A rule port is a protocol plus nothing (every port of that protocol), a number, a number
//! range (`port`..=`endPort`), or a **named** container port. A named port is resolved against
//! the destination pod: it matches only a pod that declares a container port of that name *and*
//! that protocol, on the port being connected to. It never matches a destination that is not a
//! pod.

use std::{fmt, str::FromStr};

use k8s_openapi::{
    api::networking::v1::NetworkPolicyPort, apimachinery::pkg::util::intstr::IntOrString,
};
use serde::{Deserialize, Serialize};

use super::{FieldError, Sub};

/// A transport protocol NetworkPolicy can name.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum Protocol {
    #[default]
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
    #[serde(rename = "SCTP")]
    Sctp,
}

impl Protocol {
    /// The protocol's name as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Sctp => "SCTP",
        }
    }

    /// Reads an optional protocol field, where absence means TCP.
    pub fn parse_field(value: Option<&str>, field: &dyn fmt::Display) -> Result<Self, FieldError> {
        value.map_or(Ok(Self::Tcp), |v| {
            v.parse()
                .map_err(|e: UnknownProtocol| FieldError::new(field.to_string(), e.to_string()))
        })
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a protocol other than TCP, UDP or SCTP.
#[derive(Debug, thiserror::Error)]
#[error("unsupported protocol {0:?} (expected TCP, UDP or SCTP)")]
pub struct UnknownProtocol(pub String);

impl FromStr for Protocol {
    type Err = UnknownProtocol;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "TCP" => Ok(Self::Tcp),
            "UDP" => Ok(Self::Udp),
            "SCTP" => Ok(Self::Sctp),
            other => Err(UnknownProtocol(other.to_string())),
        }
    }
}

/// Which ports of a protocol a rule port covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortMatch {
    /// No `port`: every port of the protocol.
    Any,
    /// `port`, or `port`..=`endPort`.
    Range { start: u16, end: u16 },
    /// A named container port of the destination pod.
    Named(String),
}

/// A compiled entry of a rule's `ports`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RulePort {
    pub protocol: Protocol,
    pub port: PortMatch,
}

/// A container port of a pod, as named ports resolve against it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerPort {
    pub name: Option<String>,
    pub port: u16,
    pub protocol: Protocol,
}

impl RulePort {
    /// Compiles one `ports` entry; `field` names it in errors.
    pub fn compile(raw: &NetworkPolicyPort, field: &dyn fmt::Display) -> Result<Self, FieldError> {
        let protocol =
            Protocol::parse_field(raw.protocol.as_deref(), &Sub::new(field, "protocol", None))?;
        let port = match (&raw.port, raw.end_port) {
            (None, None) => PortMatch::Any,
            (None, Some(_)) => {
                return Err(FieldError::new(
                    format!("{field}.endPort"),
                    "may not be set when port is not set",
                ));
            }
            (Some(IntOrString::Int(n)), end) => {
                let start = port_number(i64::from(*n), &Sub::new(field, "port", None))?;
                let end = match end {
                    None => start,
                    Some(e) => {
                        let e = port_number(i64::from(e), &Sub::new(field, "endPort", None))?;
                        if e < start {
                            return Err(FieldError::new(
                                format!("{field}.endPort"),
                                format!("{e} must be greater than or equal to port {start}"),
                            ));
                        }
                        e
                    }
                };
                PortMatch::Range { start, end }
            }
            (Some(IntOrString::String(name)), end) => {
                if let Err(why) = validate_port_name(name) {
                    return Err(FieldError::new(
                        format!("{field}.port"),
                        format!("{name:?} is neither a port number nor a valid port name: {why}"),
                    ));
                }
                if end.is_some() {
                    return Err(FieldError::new(
                        format!("{field}.endPort"),
                        format!("may not be set when port is the named port {name:?}"),
                    ));
                }
                PortMatch::Named(name.clone())
            }
        };
        Ok(Self { protocol, port })
    }

    /// Whether a connection to `port`/`protocol` on a destination with `dst_ports` (None when
    /// the destination is not a pod) is covered.
    pub fn matches(
        &self,
        port: u16,
        protocol: Protocol,
        dst_ports: Option<&[ContainerPort]>,
    ) -> bool {
        if self.protocol != protocol {
            return false;
        }
        match &self.port {
            PortMatch::Any => true,
            PortMatch::Range { start, end } => (*start..=*end).contains(&port),
            PortMatch::Named(name) => dst_ports.into_iter().flatten().any(|cp| {
                cp.name.as_deref() == Some(name.as_str())
                    && cp.protocol == protocol
                    && cp.port == port
            }),
        }
    }
}

impl fmt::Display for RulePort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.port {
            PortMatch::Any => write!(f, "any/{}", self.protocol),
            PortMatch::Range { start, end } if start == end => {
                write!(f, "{start}/{}", self.protocol)
            }
            PortMatch::Range { start, end } => write!(f, "{start}-{end}/{}", self.protocol),
            PortMatch::Named(name) => write!(f, "{name}/{}", self.protocol),
        }
    }
}

/// Checks a number is a valid port (1..=65535).
pub fn port_number(n: i64, field: &dyn fmt::Display) -> Result<u16, FieldError> {
    u16::try_from(n).ok().filter(|p| *p != 0).ok_or_else(|| {
        FieldError::new(
            field.to_string(),
            format!("{n} is not a valid port (1-65535)"),
        )
    })
}

/// Validates an IANA service name, as Kubernetes requires of named ports.
pub fn validate_port_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 15 {
        return Err("must be 1 to 15 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("may contain only lowercase letters, digits and '-'");
    }
    if !name.bytes().any(|b| b.is_ascii_lowercase()) {
        return Err("must contain at least one letter");
    }
    if name.starts_with('-') || name.ends_with('-') || name.contains("--") {
        return Err("must not begin or end with '-' or contain '--'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(
        protocol: Option<&str>,
        port: Option<IntOrString>,
        end: Option<i32>,
    ) -> NetworkPolicyPort {
        NetworkPolicyPort {
            protocol: protocol.map(Into::into),
            port,
            end_port: end,
        }
    }

    fn compile(r: NetworkPolicyPort) -> Result<RulePort, FieldError> {
        RulePort::compile(&r, &"spec.egress[0].ports[0]")
    }

    fn dns_pod() -> Vec<ContainerPort> {
        vec![
            ContainerPort {
                name: Some("dns".into()),
                port: 53,
                protocol: Protocol::Udp,
            },
            ContainerPort {
                name: Some("dns-tcp".into()),
                port: 53,
                protocol: Protocol::Tcp,
            },
        ]
    }

    #[test]
    fn numeric_ranges_and_protocols() {
        let range =
            compile(raw(Some("TCP"), Some(IntOrString::Int(47500)), Some(47599))).expect("valid");
        assert!(range.matches(47500, Protocol::Tcp, None), "range start");
        assert!(range.matches(47599, Protocol::Tcp, None), "range end");
        assert!(!range.matches(47600, Protocol::Tcp, None), "past range end");
        assert!(
            !range.matches(47499, Protocol::Tcp, None),
            "before range start"
        );
        assert!(!range.matches(47550, Protocol::Udp, None), "other protocol");
        let udp_any = compile(raw(Some("UDP"), None, None)).expect("valid");
        assert!(udp_any.matches(9, Protocol::Udp, None));
        assert!(!udp_any.matches(9, Protocol::Tcp, None));
        let default_tcp = compile(raw(None, Some(IntOrString::Int(443)), None)).expect("valid");
        assert!(
            default_tcp.matches(443, Protocol::Tcp, None),
            "protocol defaults to TCP"
        );
        let sctp = compile(raw(Some("SCTP"), Some(IntOrString::Int(7777)), None)).expect("valid");
        assert!(sctp.matches(7777, Protocol::Sctp, None));
    }

    #[test]
    fn named_ports_resolve_against_the_destination_pod() {
        let dns_udp = compile(raw(
            Some("UDP"),
            Some(IntOrString::String("dns".into())),
            None,
        ))
        .expect("valid");
        let dns_as_tcp = compile(raw(
            Some("TCP"),
            Some(IntOrString::String("dns".into())),
            None,
        ))
        .expect("valid");
        let pod = dns_pod();
        assert!(dns_udp.matches(53, Protocol::Udp, Some(&pod)));
        assert!(
            !dns_udp.matches(5353, Protocol::Udp, Some(&pod)),
            "name resolves to 53 only"
        );
        assert!(
            !dns_as_tcp.matches(53, Protocol::Tcp, Some(&pod)),
            "the pod's 'dns' port is UDP"
        );
        assert!(
            !dns_udp.matches(53, Protocol::Udp, None),
            "named port never matches a bare IP"
        );
        assert!(
            !dns_udp.matches(53, Protocol::Udp, Some(&[])),
            "pod without that name"
        );
    }

    #[test]
    fn rejects_bad_ports() {
        let cases = [
            (
                raw(None, Some(IntOrString::String("abc".into())), Some(90)),
                "ports[0].endPort",
            ),
            (
                raw(None, Some(IntOrString::String("Not_A_Name".into())), None),
                "ports[0].port",
            ),
            (
                raw(None, Some(IntOrString::String("8080".into())), None),
                "ports[0].port",
            ),
            (raw(None, Some(IntOrString::Int(0)), None), "ports[0].port"),
            (
                raw(None, Some(IntOrString::Int(70000)), None),
                "ports[0].port",
            ),
            (
                raw(None, Some(IntOrString::Int(100)), Some(99)),
                "ports[0].endPort",
            ),
            (raw(None, None, Some(99)), "ports[0].endPort"),
            (raw(Some("ICMP"), None, None), "ports[0].protocol"),
        ];
        for (r, field) in cases {
            let err = compile(r.clone()).expect_err("must be rejected");
            assert!(err.field.ends_with(field), "{r:?}: got {err}");
        }
    }
}
