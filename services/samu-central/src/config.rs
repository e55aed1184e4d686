//! Configuration: defaults, then a TOML file (`--config`), then the
//! environment, which wins.

use std::{net::SocketAddr, path::Path};

use samu_fleet::FleetConfig;
use samu_grpc::GrpcConfig;
use samu_http::HttpConfig;
use samu_runtime::RuntimeConfig;
use serde::{Deserialize, Serialize};

/// How logs are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Everything a central needs to run. Every field has a default, so an
/// empty file (or none) runs a central on the embedded store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// gRPC listen address (`SAMU_GRPC_ADDR`).
    pub grpc_addr: SocketAddr,
    /// HTTP listen address (`SAMU_HTTP_ADDR`).
    pub http_addr: SocketAddr,
    /// A second gRPC port for the consoles (`SAMU_CONSOLE_GRPC_ADDR`), off
    /// by default. It serves the same services from a thread of its own,
    /// so a dispatcher's nearest-unit query never waits in line behind the
    /// reports of thousands of vehicle streams on the main port.
    pub console_grpc_addr: Option<SocketAddr>,
    /// Runs the console port's thread at real-time priority (`SCHED_FIFO`,
    /// its lowest level), so a call never waits for a core behind the
    /// vehicle streams (`SAMU_CONSOLE_GRPC_REALTIME`: `true` or `false`).
    /// Needs `CAP_SYS_NICE` or `LimitRTPRIO=1`; refused, the thread runs at
    /// normal priority with a warning.
    pub console_grpc_realtime: bool,
    /// `postgres://…` or `sqlite://…` (`DATABASE_URL`); none means the
    /// embedded SQLite file under `data_dir`.
    pub database_url: Option<String>,
    /// `redis://…` (`REDIS_URL`): turns on cross-instance fan-out.
    pub redis_url: Option<String>,
    /// Where the embedded store and the demo's tokens live.
    pub data_dir: String,
    /// Log format (`SAMU_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// Fleet state tunables.
    pub fleet: FleetConfig,
    /// Runtime tunables.
    pub runtime: RuntimeConfig,
    /// gRPC limits.
    pub grpc: GrpcConfig,
    /// HTTP and wall feed.
    pub http: HttpConfig,
    /// The demo's simulator.
    pub demo: samu_demo::DemoConfig,
    /// Cross-instance fan-out (with `redis_url`).
    pub fanout: samu_fanout::FanoutConfig,
    /// TLS on both ports, or an explicit choice of plaintext
    /// (`SAMU_TLS_CERT`, `SAMU_TLS_KEY`, `SAMU_PLAINTEXT`). Without either,
    /// plaintext is served to loopback peers only.
    pub tls: samu_tls::TlsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            grpc_addr: ([0, 0, 0, 0], 50051).into(),
            http_addr: ([0, 0, 0, 0], 8080).into(),
            console_grpc_addr: None,
            console_grpc_realtime: false,
            database_url: None,
            redis_url: None,
            data_dir: "samu-data".into(),
            log_format: LogFormat::Pretty,
            fleet: FleetConfig::default(),
            runtime: RuntimeConfig::default(),
            grpc: GrpcConfig::default(),
            http: HttpConfig::default(),
            demo: samu_demo::DemoConfig::default(),
            fanout: samu_fanout::FanoutConfig::default(),
            tls: samu_tls::TlsConfig::default(),
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message (names the key).
        message: String,
    },
    /// An environment variable has a bad value.
    #[error("invalid {name}={value:?}: {message}")]
    Env {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// Why.
        message: String,
    },
}

impl Config {
    /// Defaults, overlaid by `file` when given, overlaid by the environment.
    ///
    /// # Errors
    /// An unreadable or invalid file, or a bad environment value.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match file {
            None => Config::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                Self::from_toml(&text).map_err(|message| ConfigError::Parse {
                    path: path.display().to_string(),
                    message,
                })?
            }
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        Ok(config)
    }

    /// Parses a TOML document.
    ///
    /// # Errors
    /// The parser's message.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Overlays environment variables read through `get`.
    ///
    /// # Errors
    /// A variable whose value does not parse.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let addr = |name: &'static str, value: String| -> Result<SocketAddr, ConfigError> {
            value
                .parse()
                .map_err(|e: std::net::AddrParseError| ConfigError::Env {
                    name,
                    value,
                    message: e.to_string(),
                })
        };
        if let Some(v) = get("SAMU_GRPC_ADDR") {
            self.grpc_addr = addr("SAMU_GRPC_ADDR", v)?;
        }
        if let Some(v) = get("SAMU_HTTP_ADDR") {
            self.http_addr = addr("SAMU_HTTP_ADDR", v)?;
        }
        if let Some(v) = get("SAMU_CONSOLE_GRPC_REALTIME") {
            self.console_grpc_realtime = match v.as_str() {
                "true" | "1" => true,
                "false" | "0" | "" => false,
                _ => {
                    return Err(ConfigError::Env {
                        name: "SAMU_CONSOLE_GRPC_REALTIME",
                        value: v,
                        message: "expected true or false".into(),
                    })
                }
            };
        }
        if let Some(v) = get("SAMU_CONSOLE_GRPC_ADDR") {
            self.console_grpc_addr = match v.as_str() {
                "" | "off" => None,
                _ => Some(addr("SAMU_CONSOLE_GRPC_ADDR", v)?),
            };
        }
        if let Some(v) = get("DATABASE_URL").filter(|v| !v.is_empty()) {
            self.database_url = Some(v);
        }
        if let Some(v) = get("REDIS_URL").filter(|v| !v.is_empty()) {
            self.redis_url = Some(v);
        }
        if let Some(v) = get("SAMU_TLS_CERT").filter(|v| !v.is_empty()) {
            self.tls.cert_path = Some(v.into());
        }
        if let Some(v) = get("SAMU_TLS_KEY").filter(|v| !v.is_empty()) {
            self.tls.key_path = Some(v.into());
        }
        if let Some(v) = get("SAMU_PLAINTEXT") {
            self.tls.plaintext = match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" => true,
                "0" | "false" | "no" | "" => false,
                _ => {
                    return Err(ConfigError::Env {
                        name: "SAMU_PLAINTEXT",
                        value: v,
                        message: "use 1 (serve plaintext to every peer) or 0".into(),
                    })
                }
            };
        }
        if let Some(v) = get("SAMU_LOG_FORMAT") {
            self.log_format = match v.to_ascii_lowercase().as_str() {
                "json" => LogFormat::Json,
                "pretty" | "text" | "" => LogFormat::Pretty,
                _ => {
                    return Err(ConfigError::Env {
                        name: "SAMU_LOG_FORMAT",
                        value: v,
                        message: "use json or pretty".into(),
                    })
                }
            };
        }
        Ok(())
    }

    /// The store URL in force: the configured one, or the embedded SQLite.
    pub fn store_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}/samu.db", self.data_dir.trim_end_matches('/')))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::default();
        assert_eq!(c.grpc_addr.to_string(), "0.0.0.0:50051");
        assert_eq!(c.http_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(c.store_url(), "sqlite://samu-data/samu.db");
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let mut c =
            Config::from_toml("grpc_addr = \"127.0.0.1:1\"\n[fleet]\nno_signal_after_s = 30\n")
                .unwrap();
        assert_eq!(c.fleet.no_signal_after_s, 30);
        c.apply_env(|k| (k == "SAMU_GRPC_ADDR").then(|| "127.0.0.1:2".to_owned()))
            .unwrap();
        assert_eq!(c.grpc_addr.to_string(), "127.0.0.1:2");
    }

    #[test]
    fn the_console_thread_is_real_time_only_when_asked() {
        assert!(!Config::default().console_grpc_realtime);
        let mut c = Config::from_toml("console_grpc_realtime = true\n").unwrap();
        assert!(c.console_grpc_realtime);
        c.apply_env(|k| (k == "SAMU_CONSOLE_GRPC_REALTIME").then(|| "false".to_owned()))
            .unwrap();
        assert!(!c.console_grpc_realtime);
        let err = c
            .apply_env(|k| (k == "SAMU_CONSOLE_GRPC_REALTIME").then(|| "yes".to_owned()))
            .unwrap_err();
        assert!(
            err.to_string().contains("SAMU_CONSOLE_GRPC_REALTIME"),
            "{err}"
        );
    }

    #[test]
    fn the_console_port_is_off_unless_asked_for() {
        assert_eq!(Config::default().console_grpc_addr, None);
        let mut c = Config::from_toml("console_grpc_addr = \"127.0.0.1:3\"\n").unwrap();
        assert_eq!(c.console_grpc_addr, Some("127.0.0.1:3".parse().unwrap()));
        c.apply_env(|k| (k == "SAMU_CONSOLE_GRPC_ADDR").then(|| "off".to_owned()))
            .unwrap();
        assert_eq!(c.console_grpc_addr, None);
        c.apply_env(|k| (k == "SAMU_CONSOLE_GRPC_ADDR").then(|| "127.0.0.1:4".to_owned()))
            .unwrap();
        assert_eq!(c.console_grpc_addr, Some("127.0.0.1:4".parse().unwrap()));
        let err = c
            .apply_env(|k| (k == "SAMU_CONSOLE_GRPC_ADDR").then(|| "port 4".to_owned()))
            .unwrap_err();
        assert!(err.to_string().contains("SAMU_CONSOLE_GRPC_ADDR"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let err = Config::from_toml("grpc_adr = \"x\"").unwrap_err();
        assert!(err.contains("grpc_adr"), "{err}");
        let mut c = Config::default();
        let err = c
            .apply_env(|k| (k == "SAMU_HTTP_ADDR").then(|| "nope".to_owned()))
            .unwrap_err();
        assert!(err.to_string().contains("SAMU_HTTP_ADDR"), "{err}");
        let err = c
            .apply_env(|k| (k == "SAMU_LOG_FORMAT").then(|| "xml".to_owned()))
            .unwrap_err();
        assert!(err.to_string().contains("SAMU_LOG_FORMAT"));
        let err = c
            .apply_env(|k| (k == "SAMU_PLAINTEXT").then(|| "maybe".to_owned()))
            .unwrap_err();
        assert!(err.to_string().contains("SAMU_PLAINTEXT"), "{err}");
    }

    #[test]
    fn tls_comes_from_the_file_or_the_environment() {
        assert_eq!(Config::default().tls, samu_tls::TlsConfig::default());
        let mut c = Config::from_toml(
            "[tls]\ncert_path = \"/etc/samu/cert.pem\"\nkey_path = \"/etc/samu/key.pem\"\n",
        )
        .unwrap();
        assert_eq!(
            c.tls.cert_path.as_deref(),
            Some(Path::new("/etc/samu/cert.pem"))
        );
        c.apply_env(|k| match k {
            "SAMU_TLS_CERT" => Some("/run/secrets/cert.pem".to_owned()),
            "SAMU_TLS_KEY" => Some("/run/secrets/key.pem".to_owned()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            c.tls.key_path.as_deref(),
            Some(Path::new("/run/secrets/key.pem"))
        );
        assert!(!c.tls.plaintext);
        let mut c = Config::default();
        c.apply_env(|k| (k == "SAMU_PLAINTEXT").then(|| "1".to_owned()))
            .unwrap();
        assert!(c.tls.plaintext);
        let err = Config::from_toml("[tls]\ncert = \"x\"").unwrap_err();
        assert!(err.contains("cert"), "{err}");
    }

    #[test]
    fn a_half_configured_tls_section_stops_the_start_naming_the_key() {
        let c = Config::from_toml("[tls]\ncert_path = \"/etc/samu/cert.pem\"\n").unwrap();
        let err = c.tls.load().unwrap_err().to_string();
        assert!(err.contains("key_path"), "{err}");
        let c = Config::from_toml(
            "[tls]\ncert_path = \"/nonexistent/cert.pem\"\nkey_path = \"/nonexistent/key.pem\"\n",
        )
        .unwrap();
        let err = c.tls.load().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/cert.pem"), "{err}");
    }

    #[test]
    fn rate_limits_read_from_their_section() {
        let c = Config::from_toml(
            "[runtime.limits]\ndevice_reports_per_s = 20\nuser_requests_per_s = 0\nlogin_burst = 3\n",
        )
        .unwrap();
        assert_eq!(c.runtime.limits.device_reports_per_s, 20.0);
        assert_eq!(c.runtime.limits.user_requests_per_s, 0.0);
        assert_eq!(c.runtime.limits.login_burst, 3);
        assert_eq!(
            c.runtime.limits.device_burst, 1_000,
            "the rest keep their defaults"
        );
        let err = Config::from_toml("[runtime.limits]\ndevice_rate = 1\n").unwrap_err();
        assert!(err.contains("device_rate"), "{err}");
    }
}
