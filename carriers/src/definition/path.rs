//! Paths into a payload tree and the fields built from them.
//!
//! A path is dot-separated keys with `[n]` and `[*]` steps: `result.items[*].events`,
//! `"soapenv:Body".reply`. A key applied to an array applies to each element, and a single
//! object stands for a list of one, because XML (and many JSON carriers) send one element
//! bare and several as an array. `$` is the root of the payload, and a field path starting
//! with `^` reads the enclosing shipment from inside an event. Paths are parsed once, when the
//! definition loads; evaluation allocates nothing but the output list.

use super::node::Node;
use regex::Regex;

use super::DefinitionError;
use super::spec::FieldSpec;

/// Longest path accepted: a definition is not a program.
const MAX_STEPS: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
    All,
    /// `[?key]`: only objects that have `key`.
    Has(String),
    /// `[!key]`: only objects that lack `key`.
    Lacks(String),
}

/// Which tree a path starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The node being read (a shipment, an event).
    Here,
    /// The whole payload.
    Root,
    /// The shipment around the event being read.
    Shipment,
}

#[derive(Debug, Clone)]
pub struct Path {
    pub text: String,
    pub anchor: Anchor,
    steps: Vec<Step>,
}

impl Path {
    pub fn parse(text: &str) -> Result<Path, String> {
        let mut rest = text.trim();
        let anchor = if let Some(r) = rest.strip_prefix('^') {
            rest = r;
            Anchor::Shipment
        } else if let Some(r) = rest.strip_prefix('$') {
            rest = r;
            Anchor::Root
        } else {
            Anchor::Here
        };
        rest = rest.strip_prefix('.').unwrap_or(rest);
        let mut steps = Vec::new();
        let mut chars = rest.chars().peekable();
        let mut key = String::new();
        let flush = |key: &mut String, steps: &mut Vec<Step>| {
            if !key.is_empty() {
                steps.push(Step::Key(std::mem::take(key)));
            }
        };
        while let Some(c) = chars.next() {
            match c {
                '.' => {
                    if key.is_empty() && !matches!(steps.last(), Some(Step::Index(_) | Step::All)) {
                        return Err(format!("`{text}`: empty key before `.`"));
                    }
                    flush(&mut key, &mut steps);
                }
                '"' => {
                    let mut quoted = String::new();
                    loop {
                        match chars.next() {
                            Some('"') => break,
                            Some(c) => quoted.push(c),
                            None => return Err(format!("`{text}`: unterminated quote")),
                        }
                    }
                    if quoted.is_empty() {
                        return Err(format!("`{text}`: empty quoted key"));
                    }
                    key.push_str(&quoted);
                }
                '[' => {
                    flush(&mut key, &mut steps);
                    let inner: String = chars.by_ref().take_while(|c| *c != ']').collect();
                    match inner.trim() {
                        "*" | "" => steps.push(Step::All),
                        f if f.len() > 1 && f.starts_with('?') => {
                            steps.push(Step::Has(f[1..].to_owned()))
                        }
                        f if f.len() > 1 && f.starts_with('!') => {
                            steps.push(Step::Lacks(f[1..].to_owned()))
                        }
                        n => steps.push(Step::Index(n.parse().map_err(|_| {
                            format!("`{text}`: `[{n}]` is neither an index, `*`, `?key` nor `!key`")
                        })?)),
                    }
                }
                ']' | '{' | '}' => return Err(format!("`{text}`: unexpected `{c}`")),
                c if c.is_control() => return Err(format!("`{text}`: control character")),
                c => key.push(c),
            }
        }
        flush(&mut key, &mut steps);
        if steps.len() > MAX_STEPS {
            return Err(format!("`{text}`: more than {MAX_STEPS} steps"));
        }
        Ok(Path {
            text: text.to_owned(),
            anchor,
            steps,
        })
    }

    /// Every node the path reaches from `node`, arrays at the end flattened.
    pub fn select<'a, 'b>(&self, node: &'a Node<'b>, out: &mut Vec<&'a Node<'b>>) {
        walk(node, &self.steps, out);
    }

    /// The first node the path reaches, if any.
    pub fn first<'a, 'b>(&self, node: &'a Node<'b>) -> Option<&'a Node<'b>> {
        first(node, &self.steps)
    }
}

fn walk<'a, 'b>(node: &'a Node<'b>, steps: &[Step], out: &mut Vec<&'a Node<'b>>) {
    let Some((step, rest)) = steps.split_first() else {
        match node {
            Node::List(items) => out.extend(items.iter().filter(|v| !v.is_null())),
            Node::Null => {}
            other => out.push(other),
        }
        return;
    };
    match (step, node) {
        (_, Node::List(items)) if !matches!(step, Step::Index(_)) => {
            for item in items {
                walk(
                    item,
                    if matches!(step, Step::All) {
                        rest
                    } else {
                        steps
                    },
                    out,
                );
            }
        }
        (Step::Key(key), Node::Map(_)) => {
            if let Some(child) = node.get(key) {
                walk(child, rest, out);
            }
        }
        (Step::Has(key), Node::Map(_)) if node.contains_key(key) => walk(node, rest, out),
        (Step::Lacks(key), Node::Map(_)) if !node.contains_key(key) => walk(node, rest, out),
        (Step::Index(i), Node::List(items)) => {
            if let Some(child) = items.get(*i) {
                walk(child, rest, out);
            }
        }
        (Step::Index(0) | Step::All, other) if !other.is_null() => walk(other, rest, out),
        _ => {}
    }
}

fn first<'a, 'b>(node: &'a Node<'b>, steps: &[Step]) -> Option<&'a Node<'b>> {
    let Some((step, rest)) = steps.split_first() else {
        return match node {
            Node::List(items) => items.iter().find(|v| !v.is_null()),
            Node::Null => None,
            other => Some(other),
        };
    };
    match (step, node) {
        (_, Node::List(items)) if !matches!(step, Step::Index(_)) => {
            let steps = if matches!(step, Step::All) {
                rest
            } else {
                steps
            };
            items.iter().find_map(|item| first(item, steps))
        }
        (Step::Key(key), Node::Map(_)) => first(node.get(key)?, rest),
        (Step::Has(key), Node::Map(_)) if node.contains_key(key) => first(node, rest),
        (Step::Lacks(key), Node::Map(_)) if !node.contains_key(key) => first(node, rest),
        (Step::Index(i), Node::List(items)) => first(items.get(*i)?, rest),
        (Step::Index(0) | Step::All, other) if !other.is_null() => first(other, rest),
        _ => None,
    }
}

/// A scalar as text: strings as they are, numbers and booleans printed; an XML element with
/// attributes gives its text. Empty strings count as absent.
pub fn text_of<'a>(value: &'a Node<'_>) -> Option<std::borrow::Cow<'a, str>> {
    use std::borrow::Cow;
    let text = match value {
        Node::Text(s) => Cow::Borrowed(s.trim()),
        Node::Number(n) => Cow::Owned(n.to_string()),
        Node::Bool(b) => Cow::Owned(b.to_string()),
        Node::Map(_) => return value.get("#text").and_then(text_of),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// The nodes a field may read: the one being read, the shipment around it and the root.
#[derive(Clone, Copy)]
pub struct Scope<'a, 'b> {
    pub here: &'a Node<'b>,
    pub shipment: &'a Node<'b>,
    pub root: &'a Node<'b>,
}

impl<'a, 'b> Scope<'a, 'b> {
    pub fn start(&self, anchor: Anchor) -> &'a Node<'b> {
        match anchor {
            Anchor::Here => self.here,
            Anchor::Shipment => self.shipment,
            Anchor::Root => self.root,
        }
    }
}

/// A compiled [`FieldSpec`].
#[derive(Debug, Clone)]
pub struct Field {
    paths: Vec<Path>,
    join: Option<String>,
    regex: Option<Regex>,
    constant: Option<String>,
}

impl Field {
    pub fn compile(spec: &FieldSpec, key: &str) -> Result<Field, DefinitionError> {
        let at = |message: String| DefinitionError::at(key, message);
        let (texts, join, regex, constant) = match spec {
            FieldSpec::Path(p) => (vec![p.clone()], None, None, None),
            FieldSpec::FirstOf(ps) => (ps.clone(), None, None, None),
            FieldSpec::Table(t) => {
                let mut texts: Vec<String> = t.path.iter().cloned().collect();
                texts.extend(t.paths.iter().cloned());
                (texts, t.join.clone(), t.regex.clone(), t.value.clone())
            }
        };
        if texts.is_empty() && constant.is_none() {
            return Err(at("needs a `path`, `paths` or a `value`".into()));
        }
        let paths = texts
            .iter()
            .map(|t| Path::parse(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(at)?;
        let regex = regex
            .map(|r| compile_regex(&r))
            .transpose()
            .map_err(|e| DefinitionError::at(&format!("{key}.regex"), e))?;
        Ok(Field {
            paths,
            join,
            regex,
            constant,
        })
    }

    pub fn paths(&self) -> &[Path] {
        &self.paths
    }

    /// The field's text in `scope`, if it has one.
    pub fn read(&self, scope: Scope<'_, '_>) -> Option<String> {
        if let Some(constant) = &self.constant {
            return Some(constant.clone());
        }
        let raw = match &self.join {
            Some(separator) => {
                let parts: Vec<String> = self
                    .paths
                    .iter()
                    .filter_map(|p| p.first(scope.start(p.anchor)).and_then(text_of))
                    .map(|t| t.into_owned())
                    .collect();
                (!parts.is_empty()).then(|| parts.join(separator))?
            }
            None => self
                .paths
                .iter()
                .find_map(|p| p.first(scope.start(p.anchor)).and_then(text_of))?
                .into_owned(),
        };
        match &self.regex {
            None => Some(raw),
            Some(regex) => {
                let captures = regex.captures(&raw)?;
                let m = captures.get(1).or_else(|| captures.get(0))?;
                (!m.as_str().is_empty()).then(|| m.as_str().to_owned())
            }
        }
    }

    /// The field's first node in `scope` (numbers stay numbers: epoch times).
    pub fn node<'a, 'b>(&self, scope: Scope<'a, 'b>) -> Option<&'a Node<'b>> {
        self.paths
            .iter()
            .find_map(|p| p.first(scope.start(p.anchor)))
    }

    pub fn is_plain(&self) -> bool {
        self.join.is_none() && self.regex.is_none() && self.constant.is_none()
    }
}

/// A regex from a definition: Rust's engine never backtracks, and the size limits refuse a
/// pattern whose compiled program would be huge.
pub fn compile_regex(pattern: &str) -> Result<Regex, String> {
    if pattern.len() > 512 {
        return Err("longer than 512 characters".into());
    }
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .dfa_size_limit(1 << 20)
        .nest_limit(16)
        .build()
        .map_err(|err| format!("not a usable regex: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn all(path: &str, value: &serde_json::Value) -> Vec<serde_json::Value> {
        let tree = Node::from(value);
        let mut out = Vec::new();
        Path::parse(path).unwrap().select(&tree, &mut out);
        out.into_iter()
            .map(|n| serde_json::to_value(n).unwrap())
            .collect()
    }

    #[test]
    fn keys_walk_arrays_and_single_objects_alike() {
        let one = json!({"a": {"b": {"c": 1}}});
        let many = json!({"a": [{"b": {"c": 1}}, {"b": [{"c": 2}, {"c": 3}]}]});
        assert_eq!(all("a.b.c", &one), vec![json!(1)]);
        assert_eq!(all("a.b.c", &many), vec![json!(1), json!(2), json!(3)]);
        assert_eq!(all("a[1].b[0].c", &many), vec![json!(2)]);
        assert_eq!(all("a[0].b[0].c", &one), vec![json!(1)]);
        assert_eq!(all("$", &json!([1, 2])), vec![json!(1), json!(2)]);
        assert_eq!(
            all("\"soap:Body\".x", &json!({"soap:Body": {"x": "y"}})),
            vec![json!("y")]
        );
    }

    #[test]
    fn malformed_paths_are_refused() {
        for bad in ["a..b", "a[x]", "a]", "\"open", "a{b}"] {
            assert!(Path::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn regexes_that_would_backtrack_run_in_linear_time_or_are_refused() {
        let evil = compile_regex("(a+)+$").unwrap();
        let text = "a".repeat(50_000) + "b";
        assert!(!evil.is_match(&text));
        assert!(
            compile_regex("(a)\\1").is_err(),
            "backreferences are not supported"
        );
        assert!(compile_regex(&"(".repeat(100)).is_err());
        assert!(
            compile_regex("a{1000}{1000}").is_err(),
            "too big once compiled"
        );
    }
}
