//! `VirtualPath`: a path as the client sees it inside the box.
//!
//! A `VirtualPath` is always absolute, normalized and valid UTF-8: it starts
//! with `/`, has no empty, `.` or `..` components, no trailing slash (except
//! the root itself) and no NUL byte. Normalization is purely lexical: `..`
//! removes the previous component and is clamped at `/`, the way a chroot
//! treats `..` at its root. Symbolic links are *not* looked at here; the
//! kernel resolves them inside the box when `Jail` hands the path to
//! `openat2(RESOLVE_IN_ROOT)`.
//!
//! This module never touches the filesystem and never sees the host path of
//! the box.

use std::fmt;

use super::JailError;

/// Longest virtual path accepted, in bytes (Linux `PATH_MAX`). Bounds every
/// allocation sized by a client-supplied path.
pub const MAX_PATH_BYTES: usize = 4096;

/// Longest single component accepted, in bytes (Linux `NAME_MAX`).
pub const MAX_NAME_BYTES: usize = 255;

/// An absolute, normalized path inside the box, such as `/` or `/a/b`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VirtualPath(String);

impl VirtualPath {
    /// The root of the box, `/`.
    pub fn root() -> VirtualPath {
        VirtualPath(String::from("/"))
    }

    /// Resolves client input against `cwd`, lexically.
    ///
    /// An input starting with `/` starts at the root; anything else starts
    /// at `cwd`. Empty and `.` components are dropped, `..` goes up one level
    /// and stays at `/` when already there. An empty input yields `cwd`.
    ///
    /// Errors: a NUL byte or bytes that are not UTF-8 → `InvalidName`; an
    /// input or result longer than [`MAX_PATH_BYTES`], or a component longer
    /// than [`MAX_NAME_BYTES`] → `NameTooLong`.
    pub fn resolve(cwd: &VirtualPath, input: &[u8]) -> Result<VirtualPath, JailError> {
        // Check the length first so that no work is proportional to an
        // oversized input.
        if input.len() > MAX_PATH_BYTES {
            return Err(JailError::NameTooLong);
        }
        if input.contains(&0) {
            return Err(JailError::InvalidName);
        }
        let input = std::str::from_utf8(input).map_err(|_| JailError::InvalidName)?;
        let mut components: Vec<&str> = if input.starts_with('/') {
            Vec::new()
        } else {
            cwd.components().collect()
        };
        for component in input.split('/') {
            match component {
                "" | "." => {}
                ".." => {
                    // Clamped at the root: popping an empty stack is a no-op.
                    components.pop();
                }
                name if name.len() > MAX_NAME_BYTES => return Err(JailError::NameTooLong),
                name => components.push(name),
            }
        }
        Self::from_components(components)
    }

    /// Builds a path from already-validated components.
    fn from_components<'a>(
        components: impl IntoIterator<Item = &'a str>,
    ) -> Result<VirtualPath, JailError> {
        let mut path = String::from("/");
        for (index, component) in components.into_iter().enumerate() {
            if index > 0 {
                path.push('/');
            }
            path.push_str(component);
            if path.len() > MAX_PATH_BYTES {
                return Err(JailError::NameTooLong);
            }
        }
        Ok(VirtualPath(path))
    }

    /// Builds a path from components produced inside the jail (for example
    /// by `canonicalize`), validating each of them as a single name.
    pub(crate) fn from_names<S: AsRef<str>>(names: &[S]) -> Result<VirtualPath, JailError> {
        for name in names {
            check_name(name.as_ref())?;
        }
        Self::from_components(names.iter().map(AsRef::as_ref))
    }

    /// The path as a string, always starting with `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path relative to the root of the box, as handed to `openat2`
    /// with the box's root fd: `.` for the root, `a/b` for `/a/b`.
    pub(crate) fn relative(&self) -> &str {
        match self.0.strip_prefix('/') {
            Some("") | None => ".",
            Some(rest) => rest,
        }
    }

    /// The components, from the root down; empty for `/`.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|component| !component.is_empty())
    }

    /// The directory containing this path; `None` for `/`.
    pub fn parent(&self) -> Option<VirtualPath> {
        if self.is_root() {
            return None;
        }
        match self.0.rfind('/') {
            Some(0) | None => Some(VirtualPath::root()),
            Some(slash) => self
                .0
                .get(..slash)
                .map(|parent| VirtualPath(parent.to_owned())),
        }
    }

    /// The last component; `None` for `/`.
    pub fn file_name(&self) -> Option<&str> {
        if self.is_root() {
            return None;
        }
        self.0.rsplit('/').next().filter(|name| !name.is_empty())
    }

    /// This path with one more component. `name` must be a single name: not
    /// empty, `.` or `..`, without `/` or NUL (`InvalidName`), at most
    /// [`MAX_NAME_BYTES`] (`NameTooLong`).
    pub fn join(&self, name: &str) -> Result<VirtualPath, JailError> {
        check_name(name)?;
        let mut path = self.0.clone();
        if !self.is_root() {
            path.push('/');
        }
        path.push_str(name);
        if path.len() > MAX_PATH_BYTES {
            return Err(JailError::NameTooLong);
        }
        Ok(VirtualPath(path))
    }

    /// Whether this is `/`, the root of the box.
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }
}

/// Checks that `name` is one directory entry name that an `*at` syscall can
/// take relative to its parent fd without going anywhere else.
pub(crate) fn check_name(name: &str) -> Result<(), JailError> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(JailError::InvalidName);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(JailError::NameTooLong);
    }
    Ok(())
}

impl Default for VirtualPath {
    fn default() -> Self {
        VirtualPath::root()
    }
}

impl fmt::Display for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl AsRef<str> for VirtualPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    fn resolve(cwd: &str, input: &[u8]) -> Result<String, JailError> {
        let cwd = VirtualPath::resolve(&VirtualPath::root(), cwd.as_bytes()).unwrap();
        VirtualPath::resolve(&cwd, input).map(|path| path.as_str().to_owned())
    }

    #[test]
    fn resolve_normalizes_a_table_of_inputs() {
        let table: &[(&str, &str, &str)] = &[
            ("/", "", "/"),
            ("/", ".", "/"),
            ("/", "/", "/"),
            ("/", "a", "/a"),
            ("/", "a/b", "/a/b"),
            ("/a", "b", "/a/b"),
            ("/a", "/b", "/b"),
            ("/a/b", "", "/a/b"),
            ("/a/b", ".", "/a/b"),
            ("/a/b", "..", "/a"),
            ("/a/b", "../..", "/"),
            ("/", "..", "/"),
            ("/", "../../..", "/"),
            ("/", "../../etc/passwd", "/etc/passwd"),
            ("/a", "../../../etc/passwd", "/etc/passwd"),
            ("/", "a//b///c", "/a/b/c"),
            ("/", "//a", "/a"),
            ("/", "a/./b/.", "/a/b"),
            ("/", "a/b/", "/a/b"),
            ("/", "a/b//", "/a/b"),
            ("/", "a/../b", "/b"),
            ("/", "a/b/../../..", "/"),
            ("/", "...", "/..."),
            ("/", ".hidden", "/.hidden"),
            ("/", "a b/ü", "/a b/ü"),
        ];
        for (cwd, input, expected) in table {
            assert_eq!(
                resolve(cwd, input.as_bytes()).as_deref(),
                Ok(*expected),
                "cwd {cwd:?} input {input:?}"
            );
        }
    }

    #[test]
    fn resolve_rejects_a_nul_byte() {
        assert_eq!(resolve("/", b"a\0b"), Err(JailError::InvalidName));
        assert_eq!(resolve("/", b"\0"), Err(JailError::InvalidName));
    }

    #[test]
    fn resolve_rejects_bytes_that_are_not_utf8() {
        assert_eq!(resolve("/", b"caf\xe9"), Err(JailError::InvalidName));
        assert_eq!(resolve("/", b"\xff/a"), Err(JailError::InvalidName));
    }

    #[test]
    fn resolve_rejects_overlong_paths_and_names() {
        let long_input = vec![b'a'; MAX_PATH_BYTES + 1];
        assert_eq!(resolve("/", &long_input), Err(JailError::NameTooLong));
        let long_name = "n".repeat(MAX_NAME_BYTES + 1);
        assert_eq!(
            resolve("/", long_name.as_bytes()),
            Err(JailError::NameTooLong)
        );
        let longest_name = "n".repeat(MAX_NAME_BYTES);
        assert!(resolve("/", longest_name.as_bytes()).is_ok());
    }

    #[test]
    fn resolve_rejects_a_result_longer_than_the_limit() {
        // Each input fits, but cwd + input does not.
        let half = format!("/{}", vec!["d".repeat(200); 12].join("/"));
        let cwd = VirtualPath::resolve(&VirtualPath::root(), half.as_bytes()).unwrap();
        assert!(cwd.as_str().len() < MAX_PATH_BYTES);
        let relative = vec!["e".repeat(200); 12].join("/");
        assert_eq!(
            VirtualPath::resolve(&cwd, relative.as_bytes()),
            Err(JailError::NameTooLong)
        );
    }

    #[test]
    fn a_dotdot_heavy_input_within_the_limit_is_accepted() {
        let input = "../".repeat(MAX_PATH_BYTES / 3);
        assert_eq!(resolve("/a/b", input.as_bytes()).as_deref(), Ok("/"));
    }

    #[test]
    fn parent_and_file_name_split_the_last_component() {
        let root = VirtualPath::root();
        assert_eq!(root.parent(), None);
        assert_eq!(root.file_name(), None);
        let a = VirtualPath::resolve(&root, b"/a").unwrap();
        assert_eq!(a.parent(), Some(root.clone()));
        assert_eq!(a.file_name(), Some("a"));
        let ab = VirtualPath::resolve(&root, b"/a/b").unwrap();
        assert_eq!(ab.parent(), Some(a.clone()));
        assert_eq!(ab.file_name(), Some("b"));
    }

    #[test]
    fn join_accepts_only_a_single_name() {
        let root = VirtualPath::root();
        assert_eq!(root.join("a").unwrap().as_str(), "/a");
        assert_eq!(root.join("a").unwrap().join("b").unwrap().as_str(), "/a/b");
        for bad in ["", ".", "..", "a/b", "/", "a\0"] {
            assert_eq!(root.join(bad), Err(JailError::InvalidName), "{bad:?}");
        }
        assert_eq!(
            root.join(&"n".repeat(MAX_NAME_BYTES + 1)),
            Err(JailError::NameTooLong)
        );
    }

    #[test]
    fn relative_is_what_openat2_gets() {
        let root = VirtualPath::root();
        assert_eq!(root.relative(), ".");
        assert_eq!(root.join("x").unwrap().relative(), "x");
        let ab = VirtualPath::resolve(&root, b"a/b").unwrap();
        assert_eq!(ab.relative(), "a/b");
        assert_eq!(ab.components().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(root.components().count(), 0);
    }

    #[test]
    fn from_names_validates_each_component() {
        assert_eq!(VirtualPath::from_names::<&str>(&[]).unwrap().as_str(), "/");
        assert_eq!(
            VirtualPath::from_names(&["a", "b"]).unwrap().as_str(),
            "/a/b"
        );
        assert_eq!(
            VirtualPath::from_names(&["a", ".."]),
            Err(JailError::InvalidName)
        );
    }
}
