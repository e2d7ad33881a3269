//! The modes a namespace is judged in, and the profiles of required flows.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// How a namespace's NetworkPolicy changes are judged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Deny a change that cuts Ignite off.
    #[default]
    Enforce,
    /// Add the missing rules to the incoming policy.
    Patch,
    /// Admit, with warnings.
    Warn,
    /// Not judged.
    Off,
}

impl Mode {
    /// How strict the mode is, for the strictest of several: off < warn < patch < enforce.
    pub fn strictness(self) -> u8 {
        match self {
            Self::Off => 0,
            Self::Warn => 1,
            Self::Patch => 2,
            Self::Enforce => 3,
        }
    }

    /// The label value / flag spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::Patch => "patch",
            Self::Warn => "warn",
            Self::Off => "off",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "enforce" => Ok(Self::Enforce),
            "patch" => Ok(Self::Patch),
            "warn" => Ok(Self::Warn),
            "off" => Ok(Self::Off),
            other => Err(format!(
                "unknown mode {other:?} (expected enforce, patch, warn or off)"
            )),
        }
    }
}

/// What excess egress (beyond the flows Ignite needs) does to a change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeastPrivilege {
    /// Admit, with a warning per finding.
    #[default]
    Warn,
    /// Deny a change that leaves the Ignite pods' egress wider than needed.
    Enforce,
}

impl LeastPrivilege {
    /// The label value / configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warn => "warn",
            Self::Enforce => "enforce",
        }
    }
}

impl fmt::Display for LeastPrivilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LeastPrivilege {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "warn" => Ok(Self::Warn),
            "enforce" => Ok(Self::Enforce),
            other => Err(format!(
                "unknown least-privilege {other:?} (expected warn or enforce)"
            )),
        }
    }
}

/// A built-in set of required flows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Profile {
    /// Ignite 2.x with `TcpDiscoveryKubernetesIpFinder`: DNS, the API server, peers on 47500
    /// (discovery) and 47100 (communication).
    #[default]
    #[serde(rename = "ignite2-kubernetes")]
    Ignite2Kubernetes,
    /// Ignite 3.x: DNS and peers on 3344; it does not call the API server.
    #[serde(rename = "ignite3")]
    Ignite3,
}

impl Profile {
    /// Whether Ignite calls the API server under this profile.
    pub fn needs_api_server(self) -> bool {
        matches!(self, Self::Ignite2Kubernetes)
    }

    /// The ports Ignite nodes dial each other on.
    pub fn peer_ports(self) -> &'static [u16] {
        match self {
            Self::Ignite2Kubernetes => &[47500, 47100],
            Self::Ignite3 => &[3344],
        }
    }
}
