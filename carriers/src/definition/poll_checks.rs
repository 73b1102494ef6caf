//! Checking a `[poll]` section when the definition loads: the method, every template's
//! placeholders, the batch size against `{number}`, the auth's secrets declared as secrets, and
//! no credential written in the file (a literal value for a header, query or form key that
//! names a key, token, secret or password).

use std::collections::BTreeMap;

use super::DefinitionError;
use super::request::{self, Auth, Poll, Template};
use super::spec;
use crate::HttpMethod;
use crate::oauth::CredentialsIn;

/// Names whose literal value in a header, query or form means a secret was written in the file.
fn looks_like_a_secret(name: &str, template: &Template) -> bool {
    let name = name.to_ascii_lowercase();
    let literal = template.literal_text();
    let secretish = [
        "key",
        "token",
        "secret",
        "password",
        "authorization",
        "signature",
    ]
    .iter()
    .any(|w| name.contains(w));
    let bare = literal
        .trim()
        .trim_start_matches("Bearer ")
        .trim_start_matches("Basic ");
    secretish && template.vars().next().is_none() && bare.len() >= 6
}

pub(super) fn compile_poll(
    p: &spec::PollSection,
    settings: &[String],
    declared: &BTreeMap<String, spec::SettingSpec>,
) -> Result<Poll, DefinitionError> {
    let method = match p
        .method
        .as_deref()
        .unwrap_or("GET")
        .to_ascii_uppercase()
        .as_str()
    {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        other => {
            return Err(DefinitionError::at(
                "poll.method",
                format!("`{other}`: GET or POST"),
            ));
        }
    };
    let url = Template::parse(&p.url, settings).map_err(|e| DefinitionError::at("poll.url", e))?;
    let batch_size = p.batch_size.unwrap_or(1);
    if !(1..=1000).contains(&batch_size) {
        return Err(DefinitionError::at("poll.batch_size", "between 1 and 1000"));
    }
    let query = request::templates(&p.query, "poll.query", settings)?;
    let headers = request::templates(&p.headers, "poll.headers", settings)?;
    let form = request::templates(&p.form, "poll.form", settings)?;
    for (section, list) in [
        ("poll.query", &query),
        ("poll.headers", &headers),
        ("poll.form", &form),
    ] {
        for (name, template) in list {
            if looks_like_a_secret(name, template) {
                return Err(DefinitionError::at(
                    &format!("{section}.{name}"),
                    "a secret written in the file: declare a `secret = true` setting and write `{its_name}`",
                ));
            }
        }
    }
    if let Some(header) = headers.iter().find(|(n, _)| n.contains(['\r', '\n', ':'])) {
        return Err(DefinitionError::at(
            "poll.headers",
            format!("`{}` is not a header name", header.0),
        ));
    }
    let json = match &p.json {
        None => None,
        Some(value) => {
            let json = serde_json::to_value(value)
                .map_err(|e| DefinitionError::at("poll.json", e.to_string()))?;
            Some(
                request::JsonTemplate::compile(&json, settings)
                    .map_err(|e| DefinitionError::at("poll.json", e))?,
            )
        }
    };
    let uses = |var: &request::Var| {
        url.vars()
            .chain(query.iter().flat_map(|(_, t)| t.vars()))
            .chain(form.iter().flat_map(|(_, t)| t.vars()))
            .any(|v| v == var)
    };
    if batch_size > 1 && uses(&request::Var::Number) {
        return Err(DefinitionError::at(
            "poll.url",
            "`{number}` names one number; a batch needs `{numbers}`",
        ));
    }
    let secret_setting = |name: &str, key: &str| -> Result<(), DefinitionError> {
        if declared.get(name).is_some_and(|s| s.secret) {
            Ok(())
        } else {
            Err(DefinitionError::at(
                key,
                format!("`{name}` must be a setting declared with `secret = true`"),
            ))
        }
    };
    let template = |text: &str, key: &str| {
        Template::parse(text, settings).map_err(|e| DefinitionError::at(key, e))
    };
    let auth = match &p.auth {
        None => None,
        Some(spec::AuthSection::ApiKey {
            header,
            secret,
            prefix,
        }) => {
            secret_setting(secret, "poll.auth.secret")?;
            Some(Auth::ApiKey {
                header: header.to_ascii_lowercase(),
                secret: secret.clone(),
                prefix: prefix.clone().unwrap_or_default(),
            })
        }
        Some(spec::AuthSection::Basic { user, password }) => {
            let password = template(password, "poll.auth.password")?;
            if password.vars().next().is_none() {
                return Err(DefinitionError::at(
                    "poll.auth.password",
                    "a secret written in the file: write `{a_secret_setting}`",
                ));
            }
            Some(Auth::Basic {
                user: template(user, "poll.auth.user")?,
                password,
            })
        }
        Some(spec::AuthSection::Oauth {
            token_url,
            client_id,
            client_secret,
            credentials_in,
        }) => {
            let client_secret = template(client_secret, "poll.auth.client_secret")?;
            if client_secret.vars().next().is_none() {
                return Err(DefinitionError::at(
                    "poll.auth.client_secret",
                    "a secret written in the file: write `{a_secret_setting}`",
                ));
            }
            Some(Auth::Oauth {
                token_url: template(token_url, "poll.auth.token_url")?,
                client_id: template(client_id, "poll.auth.client_id")?,
                client_secret,
                credentials_in: match credentials_in.as_deref().unwrap_or("form_body") {
                    "basic_header" => CredentialsIn::BasicHeader,
                    "form_body" => CredentialsIn::FormBody,
                    "json_body" => CredentialsIn::JsonBody,
                    other => {
                        return Err(DefinitionError::at(
                            "poll.auth.credentials_in",
                            format!("`{other}`: basic_header, form_body or json_body"),
                        ));
                    }
                },
            })
        }
    };
    Ok(Poll {
        method,
        url,
        batch_size,
        separator: p.separator.clone().unwrap_or_else(|| ",".into()),
        query,
        headers,
        json,
        form,
        auth,
    })
}
