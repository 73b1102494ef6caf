//! A payload as one tree, whatever it arrived as: JSON as it is, XML turned into the same
//! shape so the same paths read both.
//!
//! An XML element becomes its text when it has neither attributes nor children; otherwise an
//! object with `@attribute` keys, one key per child element's local name (namespace prefixes
//! dropped: carriers change them between releases) and `#text` for mixed content. A child that
//! repeats becomes an array; one that does not stays bare, which paths treat alike.

use std::borrow::Cow;

use super::node::Node;
use crate::ParseError;

/// How bodies of a defined carrier are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    pub fn parse(name: Option<&str>) -> Result<Format, String> {
        match name.unwrap_or("json") {
            "json" => Ok(Format::Json),
            "xml" => Ok(Format::Xml),
            other => Err(format!("unknown body format `{other}`: json or xml")),
        }
    }

    /// The body as a tree; JSON text borrows from `body`.
    pub fn read(self, body: &[u8]) -> Result<Node<'_>, ParseError> {
        match self {
            Format::Json => crate::common::json(body),
            Format::Xml => xml_tree(body),
        }
    }
}

/// Deepest XML nesting accepted (roxmltree has its own limit too; this keeps the recursion
/// below bounded whatever it allows).
const MAX_DEPTH: usize = 128;

fn xml_tree(body: &[u8]) -> Result<Node<'static>, ParseError> {
    let text = std::str::from_utf8(body).map_err(|err| ParseError::Body(err.to_string()))?;
    let document = roxmltree::Document::parse_with_options(
        text,
        roxmltree::ParsingOptions {
            allow_dtd: false,
            ..Default::default()
        },
    )
    .map_err(|err| ParseError::Body(format!("not XML: {err}")))?;
    let root = document.root_element();
    Ok(Node::Map(vec![(
        Cow::Owned(root.tag_name().name().to_owned()),
        element(root, 0)?,
    )]))
}

fn element(node: roxmltree::Node<'_, '_>, depth: usize) -> Result<Node<'static>, ParseError> {
    if depth > MAX_DEPTH {
        return Err(ParseError::Body(format!(
            "XML nested deeper than {MAX_DEPTH}"
        )));
    }
    let children: Vec<_> = node.children().filter(|c| c.is_element()).collect();
    let attributes: Vec<_> = node
        .attributes()
        .filter(|a| a.namespace() != Some("http://www.w3.org/2000/xmlns/"))
        .collect();
    let text: String = node
        .children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect::<String>()
        .trim()
        .to_owned();
    if children.is_empty() && attributes.is_empty() {
        return Ok(Node::Text(Cow::Owned(text)));
    }
    let mut map: Vec<(Cow<'static, str>, Node<'static>)> = Vec::new();
    for attribute in attributes {
        map.push((
            Cow::Owned(format!("@{}", attribute.name())),
            Node::Text(Cow::Owned(attribute.value().to_owned())),
        ));
    }
    for child in children {
        let value = element(child, depth + 1)?;
        let name = child.tag_name().name();
        match map.iter_mut().find(|(k, _)| k == name) {
            None => map.push((Cow::Owned(name.to_owned()), value)),
            Some((_, Node::List(items))) => items.push(value),
            Some((_, existing)) => {
                let first = std::mem::replace(existing, Node::Null);
                *existing = Node::List(vec![first, value]);
            }
        }
    }
    if !text.is_empty() {
        map.push((Cow::Borrowed("#text"), Node::Text(Cow::Owned(text))));
    }
    Ok(Node::Map(map))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn xml_reads_as_the_tree_paths_walk() {
        let xml = br#"<?xml version="1.0"?>
            <soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
              <soap:Body><r:Reply xmlns:r="urn:x" version="2">
                <Item><No>1</No></Item><Item><No>2</No></Item><Note lang="en">hi</Note>
              </r:Reply></soap:Body></soap:Envelope>"#;
        let tree = Format::Xml.read(xml).unwrap();
        assert_eq!(
            serde_json::to_value(&tree).unwrap(),
            (json!({"Envelope": {"Body": {"Reply": {
                "@version": "2",
                "Item": [{"No": "1"}, {"No": "2"}],
                "Note": {"@lang": "en", "#text": "hi"}
            }}}}))
        );
    }

    #[test]
    fn entity_expansion_is_refused() {
        let bomb = br#"<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa">]><l>&a;</l>"#;
        assert!(Format::Xml.read(bomb).is_err());
    }
}
