//! `ipBlock` peers: a CIDR minus its `except` CIDRs, for IPv4 and IPv6.
//!
//! CIDRs are read leniently, as the API server stores them: host bits may be set
//! (`192.168.193.9/24` means `192.168.193.0/24`). Every `except` entry must be a strict subset of
//! `cidr`, as API validation requires.

use std::{fmt, net::IpAddr, str::FromStr};

use ipnet::IpNet;
use k8s_openapi::api::networking::v1::IPBlock as RawIpBlock;

use super::{FieldError, Sub};

/// A compiled `ipBlock`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpBlock {
    cidr: IpNet,
    except: Vec<IpNet>,
}

impl IpBlock {
    /// Compiles `raw`; `field` names the `ipBlock` in errors.
    pub fn compile(raw: &RawIpBlock, field: &dyn fmt::Display) -> Result<Self, FieldError> {
        let cidr = parse_cidr(&raw.cidr, &Sub::new(field, "cidr", None))?;
        let except = raw
            .except
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, text)| {
                let field = Sub::new(field, "except", Some(i));
                let net = parse_cidr(text, &field)?;
                let strict_subset = cidr.contains(&net) && net.prefix_len() > cidr.prefix_len();
                if !strict_subset {
                    return Err(FieldError::new(
                        field.to_string(),
                        format!("{text:?} must be a strict subset of cidr {}", raw.cidr),
                    ));
                }
                Ok(net)
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { cidr, except })
    }

    /// All of `cidr`, with no exceptions (a cluster policy's `networks` entry).
    pub fn whole(cidr: IpNet) -> Self {
        Self {
            cidr: cidr.trunc(),
            except: Vec::new(),
        }
    }

    /// Whether `ip` lies in the CIDR and in none of its exceptions.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.cidr.contains(ip) && !self.except.iter().any(|e| e.contains(ip))
    }

    /// The (normalised) CIDR.
    pub fn cidr(&self) -> IpNet {
        self.cidr
    }

    /// The first and last address of the CIDR (exceptions not considered).
    pub fn range(&self) -> (IpAddr, IpAddr) {
        (self.cidr.network(), self.cidr.broadcast())
    }

    /// Whether this block is exactly one address (`/32` or `/128`) with no exceptions.
    pub fn single_address(&self) -> Option<IpAddr> {
        (self.cidr.prefix_len() == self.cidr.max_prefix_len() && self.except.is_empty())
            .then(|| self.cidr.addr())
    }
}

impl fmt::Display for IpBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.cidr)?;
        if !self.except.is_empty() {
            let except: Vec<_> = self.except.iter().map(ToString::to_string).collect();
            write!(f, " except {}", except.join(", "))?;
        }
        Ok(())
    }
}

/// Parses a CIDR, masking host bits; a bare address without a prefix length is an error, as it
/// is for the API server.
pub fn parse_cidr(text: &str, field: &dyn fmt::Display) -> Result<IpNet, FieldError> {
    IpNet::from_str(text.trim())
        .map(|net| net.trunc())
        .map_err(|_| {
            FieldError::new(
                field.to_string(),
                format!("invalid CIDR {text:?} (expected e.g. 10.0.0.0/8 or fd00::/64)"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(cidr: &str, except: &[&str]) -> Result<IpBlock, FieldError> {
        let raw = RawIpBlock {
            cidr: cidr.into(),
            except: (!except.is_empty()).then(|| except.iter().map(|e| e.to_string()).collect()),
        };
        IpBlock::compile(&raw, &"spec.egress[0].to[0].ipBlock")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address must parse")
    }

    #[test]
    fn contains_with_except_v4_and_v6() {
        let v4 = block("10.0.0.0/8", &["10.1.0.0/16"]).expect("valid block");
        let v6 = block("fd00::/16", &["fd00:1::/32"]).expect("valid block");
        let cases = [
            ("v4 inside", &v4, "10.2.3.4", true),
            ("v4 first address of except", &v4, "10.1.0.0", false),
            ("v4 last address of except", &v4, "10.1.255.255", false),
            ("v4 just after except", &v4, "10.2.0.0", true),
            ("v4 last address of cidr", &v4, "10.255.255.255", true),
            ("v4 outside", &v4, "11.0.0.0", false),
            (
                "v6 address never in v4 block",
                &v4,
                "::ffff:10.2.3.4",
                false,
            ),
            ("v6 inside", &v6, "fd00:2::1", true),
            ("v6 in except", &v6, "fd00:1::1", false),
            ("v6 outside", &v6, "fe80::1", false),
            ("v4 address never in v6 block", &v6, "10.2.3.4", false),
        ];
        for (name, b, addr, want) in cases {
            assert_eq!(b.contains(&ip(addr)), want, "case {name}");
        }
    }

    #[test]
    fn host_bits_are_masked_leniently() {
        let b = block("192.168.193.9/24", &[]).expect("lenient CIDR must compile");
        assert_eq!(b.cidr().to_string(), "192.168.193.0/24");
        assert!(b.contains(&ip("192.168.193.200")));
        let b6 = block("2001:db8::1/64", &[]).expect("lenient CIDR must compile");
        assert!(b6.contains(&ip("2001:db8::ffff")));
    }

    #[test]
    fn rejects_invalid_cidrs_and_excepts() {
        let cases = [
            ("not-a-cidr", vec![], "ipBlock.cidr"),
            ("10.0.0.1", vec![], "ipBlock.cidr"),
            ("10.0.0.0/33", vec![], "ipBlock.cidr"),
            ("10.0.0.0/8", vec!["11.0.0.0/16"], "ipBlock.except[0]"),
            ("10.0.0.0/8", vec!["10.0.0.0/8"], "ipBlock.except[0]"),
            ("10.0.0.0/8", vec!["fd00::/64"], "ipBlock.except[0]"),
        ];
        for (cidr, except, field) in cases {
            let err = block(cidr, &except).expect_err("must be rejected");
            assert!(err.field.ends_with(field), "{cidr} {except:?}: {err}");
        }
    }

    #[test]
    fn single_address() {
        let one = block("192.168.49.2/32", &[]).expect("valid");
        assert_eq!(one.single_address(), Some(ip("192.168.49.2")));
        let v6 = block("fd00::1/128", &[]).expect("valid");
        assert_eq!(v6.single_address(), Some(ip("fd00::1")));
        assert_eq!(
            block("10.0.0.0/8", &[]).expect("valid").single_address(),
            None
        );
    }
}
