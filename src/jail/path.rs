//! `VirtualPath`: a path as the client sees it inside the box.
//!
//! A `VirtualPath` is always absolute and normalized: it starts with `/`, has
//! no empty, `.` or `..` components, no trailing slash (except the root
//! itself) and no NUL byte. Names are bytes, exactly as the client sent them
//! (a file server never renames what it stores): nothing here decodes them
//! as UTF-8, so `a\xfe` and `a\xff` are two names and a name that is not
//! UTF-8 is kept byte for byte. Normalization is purely lexical: `..` removes the previous component
//! and is clamped at `/`, the way a chroot treats `..` at its root. Symbolic
//! links are *not* looked at here; the kernel resolves them inside the box
//! when `Jail` hands the path to `openat2(RESOLVE_IN_ROOT)`.
//!
//! Text output (logs, messages) shows a path through its `Display`, which
//! escapes what is not printable UTF-8 ([`escaped`]); that never changes the
//! bytes stored. This module never touches the filesystem and never sees the
//! host path of the box.

use std::borrow::Cow;
use std::fmt;

use super::JailError;

/// Longest virtual path accepted, in bytes (Linux `PATH_MAX`). Bounds every
/// allocation sized by a client-supplied path.
pub const MAX_PATH_BYTES: usize = 4096;

/// Longest single component accepted, in bytes (Linux `NAME_MAX`).
pub const MAX_NAME_BYTES: usize = 255;

/// An absolute, normalized path inside the box, such as `/` or `/a/b`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VirtualPath(Vec<u8>);

impl VirtualPath {
    /// The root of the box, `/`.
    pub fn root() -> VirtualPath {
        VirtualPath(b"/".to_vec())
    }

    /// Resolves client input against `cwd`, lexically.
    ///
    /// An input starting with `/` starts at the root; anything else starts
    /// at `cwd`. Empty and `.` components are dropped, `..` goes up one level
    /// and stays at `/` when already there. An empty input yields `cwd`.
    ///
    /// Errors: a NUL byte → `InvalidName`; an input or result longer than
    /// [`MAX_PATH_BYTES`], or a component longer than [`MAX_NAME_BYTES`] →
    /// `NameTooLong`. Any other byte is part of a name.
    pub fn resolve(cwd: &VirtualPath, input: &[u8]) -> Result<VirtualPath, JailError> {
        // Check the length first so that no work is proportional to an
        // oversized input.
        if input.len() > MAX_PATH_BYTES {
            return Err(JailError::NameTooLong);
        }
        if input.contains(&0) {
            return Err(JailError::InvalidName);
        }
        let mut components: Vec<&[u8]> = if input.first() == Some(&b'/') {
            Vec::new()
        } else {
            cwd.components().collect()
        };
        for component in input.split(|&byte| byte == b'/') {
            match component {
                b"" | b"." => {}
                b".." => {
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
        components: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<VirtualPath, JailError> {
        let mut path = b"/".to_vec();
        for (index, component) in components.into_iter().enumerate() {
            if index > 0 {
                path.push(b'/');
            }
            path.extend_from_slice(component);
            if path.len() > MAX_PATH_BYTES {
                return Err(JailError::NameTooLong);
            }
        }
        Ok(VirtualPath(path))
    }

    /// Builds a path from components produced inside the jail (for example
    /// by `canonicalize`), validating each of them as a single name.
    pub(crate) fn from_names<S: AsRef<[u8]>>(names: &[S]) -> Result<VirtualPath, JailError> {
        for name in names {
            check_name(name.as_ref())?;
        }
        Self::from_components(names.iter().map(AsRef::as_ref))
    }

    /// The path's bytes, always starting with `/`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The path relative to the root of the box, as handed to `openat2`
    /// with the box's root fd: `.` for the root, `a/b` for `/a/b`.
    pub(crate) fn relative(&self) -> &[u8] {
        match self.0.strip_prefix(b"/") {
            Some(b"") | None => b".",
            Some(rest) => rest,
        }
    }

    /// The components, from the root down; empty for `/`.
    pub fn components(&self) -> impl Iterator<Item = &[u8]> {
        self.0
            .split(|&byte| byte == b'/')
            .filter(|component| !component.is_empty())
    }

    /// The directory containing this path; `None` for `/`.
    pub fn parent(&self) -> Option<VirtualPath> {
        if self.is_root() {
            return None;
        }
        match self.0.iter().rposition(|&byte| byte == b'/') {
            Some(0) | None => Some(VirtualPath::root()),
            Some(slash) => self
                .0
                .get(..slash)
                .map(|parent| VirtualPath(parent.to_vec())),
        }
    }

    /// The last component; `None` for `/`.
    pub fn file_name(&self) -> Option<&[u8]> {
        if self.is_root() {
            return None;
        }
        self.0
            .rsplit(|&byte| byte == b'/')
            .next()
            .filter(|name| !name.is_empty())
    }

    /// This path with one more component. `name` must be a single name: not
    /// empty, `.` or `..`, without `/` or NUL (`InvalidName`), at most
    /// [`MAX_NAME_BYTES`] (`NameTooLong`).
    pub fn join(&self, name: &[u8]) -> Result<VirtualPath, JailError> {
        check_name(name)?;
        let mut path = self.0.clone();
        if !self.is_root() {
            path.push(b'/');
        }
        path.extend_from_slice(name);
        if path.len() > MAX_PATH_BYTES {
            return Err(JailError::NameTooLong);
        }
        Ok(VirtualPath(path))
    }

    /// Whether this is `/`, the root of the box.
    pub fn is_root(&self) -> bool {
        self.0 == b"/"
    }
}

/// Checks that `name` is one directory entry name that an `*at` syscall can
/// take relative to its parent fd without going anywhere else.
pub(crate) fn check_name(name: &[u8]) -> Result<(), JailError> {
    if name.is_empty() || name == b"." || name == b".." || name.iter().any(|&b| b == b'/' || b == 0)
    {
        return Err(JailError::InvalidName);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(JailError::NameTooLong);
    }
    Ok(())
}

/// `bytes` as one line of text for logs and messages: printable UTF-8 as it
/// is, a backslash doubled, and every other byte (control characters, bytes
/// that are not UTF-8) as `\xNN`, so that a name can neither forge a log line
/// nor hide what it holds. Borrowed when nothing needed escaping.
pub fn escaped(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(bytes)
        && !text.chars().any(needs_escape)
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else if needs_escape(c) {
                let mut buf = [0u8; 4];
                for byte in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{byte:02x}"));
                }
            } else {
                out.push(c);
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    Cow::Owned(out)
}

/// Whether `c` is shown escaped by [`escaped`].
fn needs_escape(c: char) -> bool {
    c == '\\' || c.is_control()
}

impl Default for VirtualPath {
    fn default() -> Self {
        VirtualPath::root()
    }
}

impl fmt::Display for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escaped(&self.0))
    }
}

impl fmt::Debug for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", escaped(&self.0))
    }
}

impl AsRef<[u8]> for VirtualPath {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(cwd: &str, input: &[u8]) -> Result<Vec<u8>, JailError> {
        let cwd = VirtualPath::resolve(&VirtualPath::root(), cwd.as_bytes()).unwrap();
        VirtualPath::resolve(&cwd, input).map(|path| path.as_bytes().to_vec())
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
                resolve(cwd, input.as_bytes()),
                Ok(expected.as_bytes().to_vec()),
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
    fn names_that_are_not_utf8_are_kept_byte_for_byte() {
        assert_eq!(resolve("/", b"caf\xe9"), Ok(b"/caf\xe9".to_vec()));
        assert_eq!(resolve("/", b"\xff/a"), Ok(b"/\xff/a".to_vec()));
        let fe = VirtualPath::resolve(&VirtualPath::root(), b"a\xfe").unwrap();
        let ff = VirtualPath::resolve(&VirtualPath::root(), b"a\xff").unwrap();
        assert_ne!(fe, ff);
        assert_eq!(ff.file_name(), Some(&b"a\xff"[..]));
        assert_eq!(ff.relative(), b"a\xff");
    }

    #[test]
    fn text_output_escapes_what_is_not_printable_utf8() {
        assert_eq!(escaped(b"plain name.txt"), "plain name.txt");
        assert_eq!(escaped("ü".as_bytes()), "ü");
        assert_eq!(escaped(b"a\xff"), "a\\xff");
        assert_eq!(escaped(b"line\nforged"), "line\\x0aforged");
        assert_eq!(escaped(b"back\\slash"), "back\\\\slash");
        let path = VirtualPath::resolve(&VirtualPath::root(), b"/d/a\xfe").unwrap();
        assert_eq!(path.to_string(), "/d/a\\xfe");
        assert!(matches!(escaped(b"abc"), Cow::Borrowed(_)));
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
        assert!(cwd.as_bytes().len() < MAX_PATH_BYTES);
        let relative = vec!["e".repeat(200); 12].join("/");
        assert_eq!(
            VirtualPath::resolve(&cwd, relative.as_bytes()),
            Err(JailError::NameTooLong)
        );
    }

    #[test]
    fn a_dotdot_heavy_input_within_the_limit_is_accepted() {
        let input = "../".repeat(MAX_PATH_BYTES / 3);
        assert_eq!(resolve("/a/b", input.as_bytes()), Ok(b"/".to_vec()));
    }

    #[test]
    fn parent_and_file_name_split_the_last_component() {
        let root = VirtualPath::root();
        assert_eq!(root.parent(), None);
        assert_eq!(root.file_name(), None);
        let a = VirtualPath::resolve(&root, b"/a").unwrap();
        assert_eq!(a.parent(), Some(root.clone()));
        assert_eq!(a.file_name(), Some(&b"a"[..]));
        let ab = VirtualPath::resolve(&root, b"/a/b").unwrap();
        assert_eq!(ab.parent(), Some(a.clone()));
        assert_eq!(ab.file_name(), Some(&b"b"[..]));
    }

    #[test]
    fn join_accepts_only_a_single_name() {
        let root = VirtualPath::root();
        assert_eq!(root.join(b"a").unwrap().as_bytes(), b"/a");
        assert_eq!(
            root.join(b"a").unwrap().join(b"b").unwrap().as_bytes(),
            b"/a/b"
        );
        for bad in [&b""[..], b".", b"..", b"a/b", b"/", b"a\0"] {
            assert_eq!(root.join(bad), Err(JailError::InvalidName), "{bad:?}");
        }
        assert_eq!(
            root.join("n".repeat(MAX_NAME_BYTES + 1).as_bytes()),
            Err(JailError::NameTooLong)
        );
    }

    #[test]
    fn relative_is_what_openat2_gets() {
        let root = VirtualPath::root();
        assert_eq!(root.relative(), b".");
        assert_eq!(root.join(b"x").unwrap().relative(), b"x");
        let ab = VirtualPath::resolve(&root, b"a/b").unwrap();
        assert_eq!(ab.relative(), b"a/b");
        assert_eq!(ab.components().collect::<Vec<_>>(), [b"a", b"b"]);
        assert_eq!(root.components().count(), 0);
    }

    #[test]
    fn from_names_validates_each_component() {
        assert_eq!(
            VirtualPath::from_names::<&[u8]>(&[]).unwrap().as_bytes(),
            b"/"
        );
        assert_eq!(
            VirtualPath::from_names(&[b"a", b"b"]).unwrap().as_bytes(),
            b"/a/b"
        );
        assert_eq!(
            VirtualPath::from_names(&[&b"a"[..], b".."]),
            Err(JailError::InvalidName)
        );
    }
}
