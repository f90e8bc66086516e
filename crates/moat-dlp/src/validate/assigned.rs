//! The check for values under generic secret names (`password`, `api_key`,
//! `client_secret`): what such names also hold in ordinary code, so that only a value
//! that could be a secret is one.

use super::{entropy, is_placeholder};

/// A value assigned to a generic secret name (`password`, `api_key`, `client_secret`):
/// not a placeholder, at least `min_entropy` bits per character, and none of what such
/// names also hold in ordinary code. `context` is the name and the assignment before
/// the value, `after` the text after it (an XML element's value must close its element:
/// `Converter<Jwt, ? extends AuthenticationToken> converter` is a generic type).
pub fn assigned(context: &str, value: &str, after: &str, min_entropy: f64) -> bool {
    // A sentence's full stop is not part of the value.
    let value = value.strip_suffix('.').unwrap_or(value);
    // Hex carries at most 4 bits a character; a random 40-digit key often has under 3.5.
    let min_entropy = if value.bytes().all(|b| b.is_ascii_hexdigit()) {
        min_entropy.min(3.0)
    } else {
        min_entropy
    };
    let lower_context = context.to_ascii_lowercase();
    // A quoted password may be words (`correct-horse-battery-staple`, `Summer.Beach`).
    // Not when the name is of something about a password (`DbPasswordHeader = "Authorization"`).
    const ABOUT: &[&str] = &[
        "name", "header", "param", "field", "attr", "label", "prefix", "policy", "rule", "length",
        "hint", "prompt", "message", "key",
    ];
    // Nor in a call's arguments (`new Token("user", "password", "ROLE_ADMIN")`).
    let quoted_password = context.ends_with(['"', '\'', '`'])
        && !context.contains(',')
        && (lower_context.contains("pass") || lower_context.contains("pwd"))
        && !ABOUT.iter().any(|word| lower_context.contains(word));
    let closes_element = after.trim_start().starts_with("</");
    !value.is_empty()
        && !is_placeholder(value)
        && entropy(value) >= min_entropy
        && !is_path(value)
        && !is_variable(value)
        // A quoted password may have dots (`purple.monkey.dishwasher`), not a scheme.
        && !is_reference(value, !quoted_password)
        && (quoted_password || !is_identifier(value))
        && !names_itself(value)
        // A pointer to a name (`&passHostHeader`, `*service.PassHostHeader`).
        && !value
            .strip_prefix(['&', '*'])
            .is_some_and(|name| is_identifier(name) || is_reference(name, true))
        // The value repeats its own name (`kucoinPassphraseName="kucoinPassphrase"`).
        && !(value.len() >= 6 && lower_context.contains(&value.to_ascii_lowercase()))
        // A URL is a secret only with credentials in it (its own rules find those).
        && (!value.contains("://") || value.contains('@'))
        && (!context.trim_end().ends_with('>') || closes_element)
        && !hash_under_hash_name(context, value)
        && !password_hash(value)
        && !looks_like_a_known_token(value)
}

/// A stored password hash, not a password: `{bcrypt}$2a$10$…`, `{SSHA}…`, `$argon2id$…`,
/// `$6$…` (crypt).
fn password_hash(value: &str) -> bool {
    let tagged = value
        .strip_prefix('{')
        .and_then(|rest| rest.split_once('}'))
        .is_some_and(|(tag, _)| {
            !tag.is_empty()
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"@._-".contains(&b))
        });
    let crypt = [
        "$2a$", "$2b$", "$2y$", "$argon2", "$5$", "$6$", "$pbkdf2", "$scrypt$",
    ]
    .iter()
    .any(|prefix| value.starts_with(prefix));
    tagged || crypt
}

/// A value that says what it is instead of being it: `access-token-1234`,
/// `DISABLE_CSRF_TOKEN_ATTR`, `AUTH_AZURE_AD_B2C_CLIENT_SECRET`, `weak-password-hash`.
fn names_itself(value: &str) -> bool {
    const WORDS: &[&str] = &[
        "password",
        "passwd",
        "secret",
        "token",
        "apikey",
        "api_key",
        "api-key",
        "credential",
        "passphrase",
    ];
    let lower = value.to_ascii_lowercase();
    WORDS.iter().any(|word| lower.contains(word))
}

/// A value that starts like a provider's token (`ghp_`, `sk-ant-`, `AKIA`, `eyJ`): its
/// own rule decides, and when that rule did not take it (wrong length or charset, a
/// truncated example) a generic name around it does not make it a secret.
fn looks_like_a_known_token(value: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "ghp_",
        "gho_",
        "ghu_",
        "ghs_",
        "ghr_",
        "github_pat_",
        "glpat-",
        "sk-ant-",
        "sk-proj-",
        "sk-svcacct-",
        "sk_live_",
        "sk_test_",
        "rk_live_",
        "rk_test_",
        "xoxb-",
        "xoxp-",
        "xoxa-",
        "xapp-",
        "AKIA",
        "ASIA",
        "AIza",
        "SG.",
        "NRAK-",
        "AGE-SECRET-KEY-",
        "sq0csp-",
        "sq0atp-",
        "npm_",
        "hf_",
        "shpat_",
        "shpss_",
        "dop_v1_",
        "AKCp",
        "pypi-",
        "sntrys_",
        "PMAK-",
        "HRKU-",
        "eyJ",
        "glc_",
        "dapi",
        "hvs.",
        "lin_api_",
        "pplx-",
        "gsk_",
        "r8_",
        "dckr_pat_",
        "sgp_",
        "whsec_",
        "cmVmdGtu",
        "ATATT3",
        "ATBB",
        "sl.",
        "xai-",
        "sk-or-v1-",
    ];
    PREFIXES.iter().any(|prefix| value.starts_with(prefix))
}

/// A file path: absolute, relative to `.`, `..` or `~`, a Windows drive, or ending in a
/// file extension that names keys and configuration.
fn is_path(value: &str) -> bool {
    const EXTENSIONS: &[&str] = &[
        ".md", ".html", ".pem", ".key", ".crt", ".cer", ".p12", ".pfx", ".jks", ".json", ".yaml",
        ".yml", ".txt", ".env", ".conf", ".cfg", ".ini", ".toml", ".xml", ".gpg", ".asc", ".pub",
    ];
    let bytes = value.as_bytes();
    // Directory and file names are words: lower case, or capitalised (`Users`), not the
    // mixed case of base64 (`/rKLcU/dDDgLx+Li…` is a key that starts with `/`).
    let named = |segment: &str| {
        segment
            .bytes()
            .skip(1)
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    };
    let rooted = value.starts_with('/')
        || value.starts_with("./")
        || value.starts_with("../")
        || value.starts_with("~/")
        || (bytes.len() > 2
            && bytes[0].is_ascii_alphabetic()
            && bytes[1] == b':'
            && bytes[2] == b'\\');
    (rooted && value.split(['/', '\\']).all(named))
        || EXTENSIONS.iter().any(|ext| {
            // Bytes, not a `str` slice: the cut may fall inside a character (`Kennwort_äöü`).
            let bytes = value.as_bytes();
            bytes.len() > ext.len()
                && bytes[bytes.len() - ext.len()..].eq_ignore_ascii_case(ext.as_bytes())
        })
}

/// A reference to where the value lives, not the value (dotted names only when
/// `dotted_too`): `config.secret.value`,
/// `settings.API_KEY`, `%DB_PASSWORD%`, `$DB_PASSWORD`, `$(cat file)`, a secret store's
/// address.
fn is_reference(value: &str, dotted_too: bool) -> bool {
    let identifier = |part: &str| {
        part.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    // `vault:secret/data/app#key`, `op://vault/item`, `npm:^7.0.4`: a scheme, then a
    // path of names (not `admin:Zq8/vR2+pL4t`), or a package manager's scheme.
    let scheme = value.split_once(':').is_some_and(|(scheme, rest)| {
        const PACKAGES: &[&str] = &["npm", "workspace", "file", "link", "portal", "patch"];
        (2..=24).contains(&scheme.len())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !rest.contains('@')
            && (PACKAGES.contains(&scheme)
                || ((rest.contains('/') || rest.contains(':'))
                    && rest
                        .split(['/', '#', ':', '.'])
                        .filter(|part| !part.is_empty())
                        .all(|part| {
                            part.bytes().all(|b| b.is_ascii_digit()) || reads_as_name(part)
                        })))
    });
    (dotted_too
        && value.contains('.')
        && value
            .split('.')
            .all(|part| identifier(part) && reads_as_name(part)))
        || is_variable(value)
        || scheme
}

/// A variable in the shell's or Windows' syntax: `$DB_PASSWORD`, `${DB_PASSWORD}`,
/// `$(cat file)`, `%DB_PASSWORD%`; not a password that starts with `$` (`$Kq8!vZp2@Lm4`).
fn is_variable(value: &str) -> bool {
    value.starts_with("$(")
        || (value.len() > 2 && value.starts_with('%') && value.ends_with('%'))
        || value
            .strip_prefix('$')
            .map(|rest| rest.trim_start_matches('{').trim_end_matches('}'))
            .is_some_and(|name| {
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            })
}

/// A type, constant or function name rather than a secret (`SecretManagerClient`,
/// `X_AUTH_TOKEN_HEADER`, `csrfTokenRepository`, `OAuth2TokenType`, `whoami-tls-extra`):
/// letters and digits in words split at `_`, `-`, `/` and case changes, each word in one
/// case or capitalised and ending in its digits, acronyms of up to four letters, and
/// three quarters of the letters in words of three or more letters that read as words
/// (a vowel, no six consonants in a row, at most 15 letters).
/// Random letters break into short, mixed or vowel-poor pieces.
fn is_identifier(value: &str) -> bool {
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_-/".contains(&b))
        || !value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
    {
        return false;
    }
    let mut words: Vec<&str> = Vec::new();
    for part in value.split(['_', '-', '/']).filter(|p| !p.is_empty()) {
        // A word starts at an upper-case letter after a lower-case letter or a digit, and
        // at the last capital of an acronym run before lower case (`HTTPServer`).
        let bytes = part.as_bytes();
        let mut start = 0;
        for i in 1..bytes.len() {
            let upper = bytes[i].is_ascii_uppercase();
            let after_word = bytes[i - 1].is_ascii_lowercase() || bytes[i - 1].is_ascii_digit();
            let acronym_end = bytes[i - 1].is_ascii_uppercase()
                && bytes.get(i + 1).is_some_and(u8::is_ascii_lowercase);
            if upper && (after_word || acronym_end) && i > start {
                words.push(&part[start..i]);
                start = i;
            }
        }
        words.push(&part[start..]);
    }
    let vowel = |b: u8| {
        matches!(
            b.to_ascii_lowercase(),
            b'a' | b'e' | b'i' | b'o' | b'u' | b'y'
        )
    };
    let mut letters = 0;
    let mut in_words = 0;
    for word in words {
        let name = word.trim_end_matches(|c: char| c.is_ascii_digit());
        let rest = name.get(1..).unwrap_or_default();
        let one_case = name.bytes().all(|b| b.is_ascii_lowercase())
            || name.bytes().all(|b| b.is_ascii_uppercase())
            || rest.bytes().all(|b| b.is_ascii_lowercase());
        if name.is_empty() || !one_case {
            return false;
        }
        let vowels = name.bytes().filter(|&b| vowel(b)).count();
        let reads = name.len() >= 3
            && name.len() <= 15
            && vowels >= 1
            && name
                .as_bytes()
                .split(|&b| vowel(b))
                .all(|run| run.len() < 6);
        // An acronym (`csrf`, `TLS`) may be short and vowel-less.
        if !reads && name.len() > 4 {
            return false;
        }
        letters += name.len();
        if reads {
            in_words += name.len();
        }
    }
    in_words * 4 >= letters * 3
}

/// A part of a dotted reference that reads as a name: `config`, `client_secret_value`,
/// `API_KEY`, `apiToken` — one case (digits and `_` allowed) or camel-case words, not
/// the mixed case and digits of a password (`Zz1RebNDLz.gDIPtl`).
fn reads_as_name(part: &str) -> bool {
    let one_case = |lower: bool| {
        part.bytes().all(|b| {
            b.is_ascii_digit()
                || b == b'_'
                || b == b'-'
                || if lower {
                    b.is_ascii_lowercase()
                } else {
                    b.is_ascii_uppercase()
                }
        })
    };
    let has_vowel = part.bytes().any(|b| {
        matches!(
            b.to_ascii_lowercase(),
            b'a' | b'e' | b'i' | b'o' | b'u' | b'y'
        )
    });
    // Short parts are abbreviations (`cfg`, `ctx`, `env`).
    ((one_case(true) || one_case(false)) && (has_vowel || part.len() <= 4)) || is_identifier(part)
}

/// A digest under a digest's name (`public_key_sha256 = "…"`, `token_hash: …`,
/// `integrity`): hex, or `sha256-…` as in lock files.
fn hash_under_hash_name(context: &str, value: &str) -> bool {
    const NAMES: &[&str] = &[
        "sha1",
        "sha256",
        "sha384",
        "sha512",
        "sha_",
        "hash",
        "checksum",
        "digest",
        "integrity",
        "fingerprint",
        "encoded",
        "hashed",
    ];
    let context = context.to_ascii_lowercase();
    NAMES.iter().any(|name| context.contains(name))
        && (value.bytes().all(|b| b.is_ascii_hexdigit())
            || value.to_ascii_lowercase().starts_with("sha"))
}
