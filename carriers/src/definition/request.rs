//! Poll requests from templates: `{number}`, `{numbers}`, `{token}` and the definition's own
//! settings (`{base_url}`, `{api_key}`), substituted once, in one pass, and encoded for where
//! they land — percent-encoded in a URL, escaped by serde in JSON, form-encoded in a form,
//! refused in a header if they hold a line break. A tracking number that contains `{api_key}`
//! stays that text: substituted values are never read as templates again.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use serde_json::Value;

use crate::oauth::CredentialsIn;
use crate::{AccessToken, HttpMethod, HttpRequest, ParseError, PollTarget};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    Number,
    Numbers,
    /// Only as a whole JSON string: replaced by an array of the numbers.
    NumbersList,
    Token,
    CarrierCode,
    PhoneLast4,
    Setting(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Var(Var),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parse `text`; `settings` are the names a definition declares.
    pub fn parse(text: &str, settings: &[String]) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) if c.is_ascii_alphanumeric() || c == '_' => name.push(c),
                            Some(c) => {
                                return Err(format!(
                                    "`{text}`: `{c}` inside a placeholder (names are letters, digits and `_`; write `{{{{` for a brace)"
                                ));
                            }
                            None => return Err(format!("`{text}`: unclosed `{{`")),
                        }
                    }
                    let var = match name.as_str() {
                        "number" => Var::Number,
                        "numbers" => Var::Numbers,
                        "numbers_list" => Var::NumbersList,
                        "token" => Var::Token,
                        "carrier_code" => Var::CarrierCode,
                        "phone_last4" => Var::PhoneLast4,
                        other if settings.iter().any(|s| s == other) => {
                            Var::Setting(other.to_owned())
                        }
                        other => {
                            return Err(format!(
                                "`{text}`: unknown placeholder `{{{other}}}` (number, numbers, numbers_list, token, carrier_code, phone_last4 or a declared setting)"
                            ));
                        }
                    };
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Var(var));
                }
                '}' => return Err(format!("`{text}`: stray `}}` (write `}}}}`)")),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Template { parts })
    }

    pub fn vars(&self) -> impl Iterator<Item = &Var> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v),
            Part::Literal(_) => None,
        })
    }

    pub fn literal_text(&self) -> String {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Literal(l) => Some(l.as_str()),
                Part::Var(_) => None,
            })
            .collect()
    }

    pub fn is_exactly(&self, var: &Var) -> bool {
        matches!(self.parts.as_slice(), [Part::Var(v)] if v == var)
    }

    fn render(&self, values: &Values<'_>, in_url: bool) -> Result<String, ParseError> {
        let mut out = String::new();
        for (i, part) in self.parts.iter().enumerate() {
            match part {
                Part::Literal(text) => out.push_str(text),
                // A setting that opens a URL is its base (`{base_url}/track`): kept as written.
                Part::Var(Var::Setting(name)) if i == 0 && in_url => {
                    out.push_str(values.setting(name)?)
                }
                // Each number encoded on its own: the separator stays what the carrier expects.
                Part::Var(Var::Numbers) if in_url => out.push_str(
                    &values
                        .targets
                        .iter()
                        .map(|t| url_encode(&t.tracking_number))
                        .collect::<Vec<_>>()
                        .join(values.separator),
                ),
                Part::Var(var) if in_url => out.push_str(&url_encode(&values.get(var)?)),
                Part::Var(var) => out.push_str(&values.get(var)?),
            }
        }
        Ok(out)
    }
}

fn url_encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// What templates are filled with for one request.
pub struct Values<'a> {
    pub targets: &'a [PollTarget],
    pub separator: &'a str,
    pub token: Option<&'a AccessToken>,
    pub settings: &'a HashMap<String, String>,
}

impl Values<'_> {
    fn setting(&self, name: &str) -> Result<&str, ParseError> {
        self.settings
            .get(name)
            .map(String::as_str)
            .ok_or(ParseError::NotSupported(
                "polling without all of the definition's settings",
            ))
    }

    fn get(&self, var: &Var) -> Result<String, ParseError> {
        let first = self.targets.first();
        Ok(match var {
            Var::Number => first.map(|t| t.tracking_number.clone()).unwrap_or_default(),
            Var::Numbers | Var::NumbersList => self
                .targets
                .iter()
                .map(|t| t.tracking_number.as_str())
                .collect::<Vec<_>>()
                .join(self.separator),
            Var::Token => self.token.map(|t| t.token.clone()).unwrap_or_default(),
            Var::CarrierCode => first
                .and_then(|t| t.carrier_code.clone())
                .unwrap_or_default(),
            Var::PhoneLast4 => first
                .and_then(|t| t.phone_last4.clone())
                .unwrap_or_default(),
            Var::Setting(name) => self.setting(name)?.to_owned(),
        })
    }
}

/// How the poll authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    ApiKey {
        header: String,
        secret: String,
        prefix: String,
    },
    Basic {
        user: Template,
        password: Template,
    },
    Oauth {
        token_url: Template,
        client_id: Template,
        client_secret: Template,
        credentials_in: CredentialsIn,
    },
}

/// A compiled `[poll]` section.
#[derive(Debug, Clone)]
pub struct Poll {
    pub method: HttpMethod,
    pub url: Template,
    pub batch_size: usize,
    pub separator: String,
    pub query: Vec<(String, Template)>,
    pub headers: Vec<(String, Template)>,
    pub json: Option<JsonTemplate>,
    pub form: Vec<(String, Template)>,
    pub auth: Option<Auth>,
}

impl Poll {
    /// Every setting the poll needs a value for.
    pub fn settings_used(&self) -> Vec<String> {
        let mut templates: Vec<&Template> = vec![&self.url];
        templates.extend(self.query.iter().map(|(_, t)| t));
        templates.extend(self.headers.iter().map(|(_, t)| t));
        templates.extend(self.form.iter().map(|(_, t)| t));
        if let Some(json) = &self.json {
            json.templates(&mut templates);
        }
        let mut names = Vec::new();
        match &self.auth {
            Some(Auth::ApiKey { secret, .. }) => names.push(secret.clone()),
            Some(Auth::Basic { user, password }) => templates.extend([user, password]),
            Some(Auth::Oauth {
                token_url,
                client_id,
                client_secret,
                ..
            }) => templates.extend([token_url, client_id, client_secret]),
            None => {}
        }
        names.extend(
            templates
                .iter()
                .flat_map(|t| t.vars())
                .filter_map(|v| match v {
                    Var::Setting(name) => Some(name.clone()),
                    _ => None,
                }),
        );
        names.sort();
        names.dedup();
        names
    }

    pub fn request(&self, values: &Values<'_>) -> Result<HttpRequest, ParseError> {
        let mut url = self.url.render(values, true)?;
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, template) in &self.query {
            query.append_pair(name, &template.render(values, false)?);
        }
        let query = query.finish();
        if !query.is_empty() {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&query);
        }
        let mut headers = vec![("accept".to_owned(), "application/json".to_owned())];
        for (name, template) in &self.headers {
            headers.push((name.clone(), header_value(template.render(values, false)?)?));
        }
        match &self.auth {
            Some(Auth::ApiKey {
                header,
                secret,
                prefix,
            }) => {
                let key = values.setting(secret)?;
                headers.push((header.clone(), header_value(format!("{prefix}{key}"))?));
            }
            Some(Auth::Basic { user, password }) => {
                let pair = format!(
                    "{}:{}",
                    user.render(values, false)?,
                    password.render(values, false)?
                );
                let basic = base64::engine::general_purpose::STANDARD.encode(pair);
                headers.push(("authorization".into(), format!("Basic {basic}")));
            }
            Some(Auth::Oauth { .. }) => {
                let token = values
                    .token
                    .ok_or(ParseError::NotSupported("polling before the OAuth token"))?;
                headers.push((
                    "authorization".into(),
                    header_value(format!("Bearer {}", token.token))?,
                ));
            }
            None => {}
        }
        let body = if let Some(json) = &self.json {
            headers.push(("content-type".into(), "application/json".into()));
            Some(json.render(values)?.to_string().into_bytes())
        } else if !self.form.is_empty() {
            headers.push((
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ));
            let mut form = form_urlencoded::Serializer::new(String::new());
            for (name, template) in &self.form {
                form.append_pair(name, &template.render(values, false)?);
            }
            Some(form.finish().into_bytes())
        } else {
            None
        };
        Ok(HttpRequest {
            method: self.method,
            url,
            headers,
            body,
        })
    }

    pub fn token_request(&self, settings: &HashMap<String, String>) -> Option<HttpRequest> {
        let Some(Auth::Oauth {
            token_url,
            client_id,
            client_secret,
            credentials_in,
        }) = &self.auth
        else {
            return None;
        };
        let values = Values {
            targets: &[],
            separator: ",",
            token: None,
            settings,
        };
        let url = token_url.render(&values, true).ok()?;
        let id = client_id.render(&values, false).ok()?;
        let secret = client_secret.render(&values, false).ok()?;
        Some(crate::oauth::token_request(
            url,
            &id,
            &secret,
            *credentials_in,
        ))
    }
}

fn header_value(value: String) -> Result<String, ParseError> {
    if value.contains(['\r', '\n', '\0']) {
        return Err(ParseError::Body(
            "a header value would contain a line break".into(),
        ));
    }
    Ok(value)
}

/// A `[poll]` JSON body: its strings are templates, parsed once when the definition loads.
#[derive(Debug, Clone)]
pub enum JsonTemplate {
    Text(Template),
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
    /// Numbers, booleans, null: sent as written.
    Literal(Value),
}

impl JsonTemplate {
    pub fn compile(value: &Value, settings: &[String]) -> Result<JsonTemplate, String> {
        Ok(match value {
            Value::String(text) => JsonTemplate::Text(Template::parse(text, settings)?),
            Value::Array(items) => JsonTemplate::Array(
                items
                    .iter()
                    .map(|v| JsonTemplate::compile(v, settings))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => JsonTemplate::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), JsonTemplate::compile(v, settings)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => JsonTemplate::Literal(other.clone()),
        })
    }

    fn templates<'a>(&'a self, out: &mut Vec<&'a Template>) {
        match self {
            JsonTemplate::Text(template) => out.push(template),
            JsonTemplate::Array(items) => items.iter().for_each(|t| t.templates(out)),
            JsonTemplate::Object(fields) => fields.iter().for_each(|(_, t)| t.templates(out)),
            JsonTemplate::Literal(_) => {}
        }
    }

    fn render(&self, values: &Values<'_>) -> Result<Value, ParseError> {
        Ok(match self {
            // `"{numbers_list}"` as a whole string is the batch as a JSON array.
            JsonTemplate::Text(template) if template.is_exactly(&Var::NumbersList) => Value::Array(
                values
                    .targets
                    .iter()
                    .map(|t| Value::String(t.tracking_number.clone()))
                    .collect(),
            ),
            JsonTemplate::Text(template) => Value::String(template.render(values, false)?),
            JsonTemplate::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|t| t.render(values))
                    .collect::<Result<_, _>>()?,
            ),
            JsonTemplate::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, t)| Ok((k.clone(), t.render(values)?)))
                    .collect::<Result<_, ParseError>>()?,
            ),
            JsonTemplate::Literal(value) => value.clone(),
        })
    }
}

/// Compile a map of templates, naming the key of any that fails.
pub fn templates(
    map: &BTreeMap<String, String>,
    key: &str,
    settings: &[String],
) -> Result<Vec<(String, Template)>, super::DefinitionError> {
    map.iter()
        .map(|(name, text)| {
            Template::parse(text, settings)
                .map(|t| (name.to_ascii_lowercase(), t))
                .map_err(|e| super::DefinitionError::at(&format!("{key}.{name}"), e))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_checked_and_substituted_once() {
        let settings = vec!["api_key".to_owned(), "base_url".to_owned()];
        assert!(Template::parse("{nope}", &settings).is_err());
        assert!(Template::parse("{number", &settings).is_err());
        assert!(Template::parse("{a.b}", &settings).is_err());
        assert!(Template::parse("x}", &settings).is_err());
        let url = Template::parse("{base_url}/t/{number}?k={{lit}}", &settings).unwrap();
        let map: HashMap<String, String> = [
            ("base_url".into(), "http://h:1".into()),
            ("api_key".into(), "K".into()),
        ]
        .into();
        let target = PollTarget::from("{api_key}/../x y");
        let values = Values {
            targets: std::slice::from_ref(&target),
            separator: ",",
            token: None,
            settings: &map,
        };
        assert_eq!(
            url.render(&values, true).unwrap(),
            "http://h:1/t/%7Bapi_key%7D%2F..%2Fx%20y?k={lit}"
        );
    }
}
