//! `[cluster]` and `[storage]` in sftpbox.toml: the settings of a node of
//! a cluster, whose accounts, namespace and quota live in PostgreSQL and
//! whose file contents live in an S3 bucket.
//!
//! Both sections or neither: without them the server keeps its local
//! homes, accounts.toml and in-memory quota, and nothing here is read.
//! Credentials for the bucket may be left out of the file; the server then
//! takes `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` from its
//! environment when it starts.

use std::fmt;
use std::time::Duration;

use toml::Spanned;
use toml::de::DeValue;

use crate::diagnostics::Report;

/// How long a node may go without a heartbeat before the others give its
/// reservations back, by default: 10 s, ten heartbeats.
const DEFAULT_NODE_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest node name: it is stored with every reservation.
const MAX_NODE_NAME: usize = 64;

/// `[cluster]` with its `[storage]`.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// The PostgreSQL connection (`database`): a `postgresql://` URL or
    /// libpq's `key=value` form. May hold a password, hence no `Debug`.
    pub database: String,
    /// This node's name (`node`), unique in the cluster.
    pub node: String,
    /// After how long without a heartbeat a node is taken for dead and its
    /// reservations are given back (`node_timeout_seconds`, default 10).
    pub node_timeout: Duration,
    /// The bucket holding file contents.
    pub storage: StorageSettings,
}

/// `[storage]`: the S3 bucket.
#[derive(Clone, PartialEq, Eq)]
pub struct StorageSettings {
    /// The S3 endpoint (`endpoint`), `http://` or `https://`.
    pub endpoint: String,
    /// The bucket (`bucket`).
    pub bucket: String,
    /// The region (`region`, default `us-east-1`; Garage wants its
    /// `s3_region`).
    pub region: String,
    /// The access key id (`access_key_id`; default `AWS_ACCESS_KEY_ID`).
    pub access_key_id: Option<String>,
    /// The secret key (`secret_access_key`; default `AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<String>,
}

impl fmt::Debug for ClusterSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterSettings")
            .field("database", &"<secret>")
            .field("node", &self.node)
            .field("node_timeout", &self.node_timeout)
            .field("storage", &self.storage)
            .finish()
    }
}

impl fmt::Debug for StorageSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageSettings")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<secret>")
            .finish()
    }
}

/// The two sections as read, each with its span, before they are joined.
#[derive(Default)]
pub(super) struct Sections {
    cluster: Option<(std::ops::Range<usize>, Option<Cluster>)>,
    storage: Option<(std::ops::Range<usize>, Option<StorageSettings>)>,
}

struct Cluster {
    database: String,
    node: String,
    node_timeout: Duration,
}

impl Sections {
    /// Reads `[cluster]`.
    pub(super) fn cluster(&mut self, report: &mut Report<'_>, value: &Spanned<DeValue<'_>>) {
        self.cluster = Some((value.span(), read_cluster(report, value)));
    }

    /// Reads `[storage]`.
    pub(super) fn storage(&mut self, report: &mut Report<'_>, value: &Spanned<DeValue<'_>>) {
        self.storage = Some((value.span(), read_storage(report, value)));
    }

    /// Both sections joined; a problem when only one is there.
    pub(super) fn finish(self, report: &mut Report<'_>) -> Option<ClusterSettings> {
        match (self.cluster, self.storage) {
            (None, None) => None,
            (Some((span, _)), None) => {
                report.at(
                    &span,
                    "[cluster] needs a [storage] section: the S3 bucket that holds the files",
                );
                None
            }
            (None, Some((span, _))) => {
                report.at(
                    &span,
                    "[storage] is only used with a [cluster] section (the database and this node's name)",
                );
                None
            }
            (Some((_, cluster)), Some((_, storage))) => {
                let (cluster, storage) = (cluster?, storage?);
                Some(ClusterSettings {
                    database: cluster.database,
                    node: cluster.node,
                    node_timeout: cluster.node_timeout,
                    storage,
                })
            }
        }
    }
}

fn table<'a, 'v>(
    report: &mut Report<'_>,
    value: &'a Spanned<DeValue<'v>>,
    name: &str,
) -> Option<&'a toml::de::DeTable<'v>> {
    match value.get_ref() {
        DeValue::Table(table) => Some(table),
        _ => {
            report.at(&value.span(), format!("`{name}` must be a table: [{name}]"));
            None
        }
    }
}

/// A non-empty string value, or a problem at it.
fn text(report: &mut Report<'_>, value: &Spanned<DeValue<'_>>, key: &str) -> Option<String> {
    match value.get_ref() {
        DeValue::String(text) if !text.trim().is_empty() => Some(text.to_string()),
        DeValue::String(_) => {
            report.at(&value.span(), format!("`{key}` must not be empty"));
            None
        }
        other => {
            report.at(
                &value.span(),
                format!("`{key}` must be a string, not {}", other.type_str()),
            );
            None
        }
    }
}

fn read_cluster(report: &mut Report<'_>, value: &Spanned<DeValue<'_>>) -> Option<Cluster> {
    let table = table(report, value, "cluster")?;
    let before = report.count();
    let (mut database, mut node, mut node_timeout) = (None, None, DEFAULT_NODE_TIMEOUT);
    for (key, item) in table.iter() {
        match key.get_ref().as_ref() {
            "database" => {
                if let Some(url) = text(report, item, "database") {
                    match url.parse::<tokio_postgres::Config>() {
                        Ok(_) => database = Some(url),
                        Err(err) => report.at(
                            &item.span(),
                            format!(
                                "`database` is not a PostgreSQL connection ({err}); write e.g. \"postgresql://sftpbox@10.0.0.5/sftpbox\""
                            ),
                        ),
                    }
                }
            }
            "node" => {
                if let Some(name) = text(report, item, "node") {
                    let fits = name.len() <= MAX_NODE_NAME
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
                    if fits {
                        node = Some(name);
                    } else {
                        report.at(
                            &item.span(),
                            format!(
                                "`node` must be 1 to {MAX_NODE_NAME} letters, digits, `.`, `_` or `-`"
                            ),
                        );
                    }
                }
            }
            "node_timeout_seconds" => {
                let seconds = match item.get_ref() {
                    DeValue::Integer(int) => i128::from_str_radix(int.as_str(), int.radix())
                        .ok()
                        .and_then(|n| u64::try_from(n).ok())
                        .filter(|n| (2..=3600).contains(n)),
                    _ => None,
                };
                match seconds {
                    Some(seconds) => node_timeout = Duration::from_secs(seconds),
                    None => report.at(
                        &item.span(),
                        "`node_timeout_seconds` must be a whole number of seconds, 2 to 3600",
                    ),
                }
            }
            other => report.at(
                &key.span(),
                format!(
                    "unknown cluster setting `{other}`; they are database, node and node_timeout_seconds"
                ),
            ),
        }
    }
    if database.is_none() && report.count() == before {
        report.at(
            &value.span(),
            "[cluster] needs `database`, the PostgreSQL connection",
        );
    }
    if node.is_none() && report.count() == before {
        report.at(
            &value.span(),
            "[cluster] needs `node`, this node's name, unique in the cluster",
        );
    }
    Some(Cluster {
        database: database?,
        node: node?,
        node_timeout,
    })
}

fn read_storage(report: &mut Report<'_>, value: &Spanned<DeValue<'_>>) -> Option<StorageSettings> {
    let table = table(report, value, "storage")?;
    let before = report.count();
    let mut endpoint = None;
    let mut bucket = None;
    let mut region = "us-east-1".to_owned();
    let (mut access_key_id, mut secret_access_key) = (None, None);
    for (key, item) in table.iter() {
        match key.get_ref().as_ref() {
            "endpoint" => {
                if let Some(url) = text(report, item, "endpoint") {
                    if url.starts_with("http://") || url.starts_with("https://") {
                        endpoint = Some(url);
                    } else {
                        report.at(
                            &item.span(),
                            "`endpoint` must be an http:// or https:// URL, such as \"http://127.0.0.1:3900\"",
                        );
                    }
                }
            }
            "bucket" => bucket = text(report, item, "bucket"),
            "region" => {
                if let Some(text) = text(report, item, "region") {
                    region = text;
                }
            }
            "access_key_id" => access_key_id = text(report, item, "access_key_id"),
            "secret_access_key" => secret_access_key = text(report, item, "secret_access_key"),
            other => report.at(
                &key.span(),
                format!(
                    "unknown storage setting `{other}`; they are endpoint, bucket, region, access_key_id and secret_access_key"
                ),
            ),
        }
    }
    if report.count() == before {
        if endpoint.is_none() {
            report.at(&value.span(), "[storage] needs `endpoint`, the S3 URL");
        }
        if bucket.is_none() {
            report.at(&value.span(), "[storage] needs `bucket`");
        }
        if access_key_id.is_some() != secret_access_key.is_some() {
            report.at(
                &value.span(),
                "[storage] needs both `access_key_id` and `secret_access_key`, or neither (then AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are used)",
            );
        }
    }
    Some(StorageSettings {
        endpoint: endpoint?,
        bucket: bucket?,
        region,
        access_key_id,
        secret_access_key,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::ServerConfig;

    fn problems(text: &str) -> String {
        ServerConfig::from_toml_str(text, Path::new("/srv/sftpbox.toml"))
            .unwrap_err()
            .to_string()
    }

    const STORAGE: &str =
        "[storage]\nendpoint = \"http://127.0.0.1:3900\"\nbucket = \"b\"\nregion = \"garage\"\n";

    #[test]
    fn without_the_sections_there_is_no_cluster() {
        let config = ServerConfig::from_toml_str("", Path::new("/srv/sftpbox.toml")).unwrap();
        assert_eq!(config.cluster, None);
    }

    #[test]
    fn both_sections_make_a_cluster_node() {
        let text = format!(
            "[cluster]\ndatabase = \"postgresql://u@127.0.0.1:5433/db\"\nnode = \"a-1\"\nnode_timeout_seconds = 3\n{STORAGE}"
        );
        let config = ServerConfig::from_toml_str(&text, Path::new("/srv/sftpbox.toml")).unwrap();
        let cluster = config.cluster.unwrap();
        assert_eq!(cluster.node, "a-1");
        assert_eq!(cluster.node_timeout.as_secs(), 3);
        assert_eq!(cluster.storage.bucket, "b");
        assert_eq!(cluster.storage.region, "garage");
        assert_eq!(cluster.storage.access_key_id, None);
        assert!(!format!("{cluster:?}").contains("127.0.0.1:5433"));
    }

    #[test]
    fn one_section_alone_is_a_problem_at_it() {
        assert_eq!(
            problems(
                "listen = \"127.0.0.1:2\"\n[cluster]\ndatabase = \"postgresql://x/y\"\nnode = \"a\"\n"
            ),
            "/srv/sftpbox.toml:2:1: [cluster] needs a [storage] section: the S3 bucket that holds the files"
        );
        assert!(
            problems(STORAGE)
                .starts_with("/srv/sftpbox.toml:1:1: [storage] is only used with a [cluster]")
        );
    }

    #[test]
    fn bad_values_are_placed_at_their_line_and_column() {
        let text = format!(
            "[cluster]\ndatabase = \"postgresql://x/y\"\nnode = \"a b\"\ncolour = 1\n{}",
            STORAGE.replace("http://127.0.0.1:3900", "ftp://x")
        );
        let found = problems(&text);
        assert!(
            found.contains("/srv/sftpbox.toml:3:8: `node` must be 1 to 64"),
            "{found}"
        );
        assert!(
            found.contains("/srv/sftpbox.toml:4:1: unknown cluster setting `colour`"),
            "{found}"
        );
        assert!(
            found.contains("/srv/sftpbox.toml:6:12: `endpoint` must be an http://"),
            "{found}"
        );
    }

    #[test]
    fn a_missing_key_is_named() {
        let found = problems(&format!("[cluster]\nnode = \"a\"\n{STORAGE}"));
        assert_eq!(
            found,
            "/srv/sftpbox.toml:1:1: [cluster] needs `database`, the PostgreSQL connection"
        );
    }
}
