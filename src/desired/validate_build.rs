//! Validation of `spec.build` (pure): the schema's rules for specs that did not come through an
//! API server, the account's builder, and the Secrets the build reads.

use std::collections::BTreeMap;

use super::{
    SecretData,
    build::{GIT_PASSWORD, GIT_USERNAME, arg_env},
    validate::{Invalid, check_pattern, check_range, invalid},
};
use crate::api::{Build, CloudAccount, CloudServiceSpec, patterns};

/// `spec.image` xor `spec.build`, and `spec.build`'s own fields.
pub(super) fn check_source(spec: &CloudServiceSpec) -> Result<(), Invalid> {
    match (&spec.image, &spec.build) {
        (Some(image), None) => check_pattern(
            "spec.image",
            image,
            patterns::IMAGE,
            "a container image reference such as nginx:1.27",
        ),
        (None, Some(build)) => check_build(build),
        (Some(_), Some(_)) => Err(invalid(
            "spec.image",
            "set exactly one of spec.image and spec.build: remove spec.image to build from source, or spec.build to run an image someone built",
        )),
        (None, None) => Err(invalid(
            "spec.image",
            "required, but missing; set spec.image to a container image, or spec.build to build one from source",
        )),
    }
}

fn check_build(b: &Build) -> Result<(), Invalid> {
    match (&b.git, &b.context) {
        (Some(git), None) => {
            check_pattern(
                "spec.build.git.url",
                &git.url,
                patterns::GIT_URL,
                "an https URL of a Git repository without credentials in it (e.g. https://github.com/org/shop.git; put a token in a Secret named by spec.build.git.secretRef)",
            )?;
            if let Some(rev) = &git.revision {
                check_pattern(
                    "spec.build.git.revision",
                    rev,
                    r"^[A-Za-z0-9][A-Za-z0-9_./-]*$",
                    "a branch, a tag or a full commit id",
                )?;
            }
        }
        (None, Some(context)) if context.trim().is_empty() => {
            return Err(invalid("spec.build.context", "must name a directory"));
        }
        (None, Some(_)) => {}
        _ => {
            return Err(invalid(
                "spec.build",
                "set exactly one source: git (a repository) or context (a local directory, for byoc apply)",
            ));
        }
    }
    if let Some(path) = &b.path {
        check_relative("spec.build.path", path)?;
    }
    check_relative("spec.build.dockerfile", &b.dockerfile)?;
    if let Some(target) = &b.target {
        check_pattern(
            "spec.build.target",
            target,
            r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
            "a Dockerfile stage name",
        )?;
    }
    check_range("spec.build.timeoutMinutes", b.timeout_minutes, 5, 480)?;
    let mut names = Vec::new();
    for (i, arg) in b.args.iter().enumerate() {
        let field = format!("spec.build.args[{i}]");
        check_pattern(
            &format!("{field}.name"),
            &arg.name,
            patterns::BUILD_ARG_NAME,
            "a Dockerfile ARG name (letters, digits and _)",
        )?;
        if arg.value.is_some() == arg.value_from.is_some() {
            return Err(invalid(field, "set exactly one of value and valueFrom"));
        }
        if names.contains(&&arg.name) {
            return Err(invalid(
                format!("{field}.name"),
                format!("duplicate build argument {:?}", arg.name),
            ));
        }
        names.push(&arg.name);
    }
    Ok(())
}

fn check_relative(field: &str, path: &str) -> Result<(), Invalid> {
    check_pattern(
        field,
        path,
        patterns::RELATIVE_PATH,
        "a path relative to the build context (no leading / or .)",
    )?;
    if path.split('/').any(|s| s == "..") || path.contains("..") {
        return Err(invalid(field, "must stay inside the build context: remove '..'"));
    }
    Ok(())
}

/// The account must name the role builds run as.
pub(super) fn check_account(
    spec: &CloudServiceSpec,
    account: &CloudAccount,
) -> Result<(), Invalid> {
    if spec.build.is_some() && account.spec.build.is_none() {
        return Err(invalid(
            "spec.build",
            format!(
                "CloudAccount {:?} has no spec.build.serviceRoleArn, the IAM role AWS CodeBuild builds as; ask the account's owner to add it (see deploy/README.md), or set spec.image",
                spec.account_ref.name
            ),
        ));
    }
    Ok(())
}

/// Values the build reads from Secrets, by the name of the build's environment variable:
/// `BUILD_ARG_<NAME>` for build arguments, and the Git credentials.
pub(super) fn secret_values(
    spec: &CloudServiceSpec,
    secrets: &SecretData,
    namespace: &str,
) -> Result<BTreeMap<String, String>, Invalid> {
    let mut out = BTreeMap::new();
    let Some(build) = &spec.build else {
        return Ok(out);
    };
    for (i, arg) in build.args.iter().enumerate() {
        if let Some(source) = &arg.value_from {
            let r = &source.secret_key_ref;
            let field = format!("spec.build.args[{i}].valueFrom.secretKeyRef");
            out.insert(arg_env(&arg.name), lookup(secrets, &r.name, &r.key, &field, namespace)?);
        }
    }
    if let Some(r) = build.git.as_ref().and_then(|g| g.secret_ref.as_ref()) {
        let field = "spec.build.git.secretRef";
        out.insert(GIT_USERNAME.into(), lookup(secrets, &r.name, "username", field, namespace)?);
        out.insert(GIT_PASSWORD.into(), lookup(secrets, &r.name, "password", field, namespace)?);
    }
    if let Some(env) = spec.env.iter().find(|e| out.contains_key(&e.name)) {
        return Err(invalid(
            "spec.env",
            format!(
                "{:?} is the name the build uses for a secret value; rename the variable",
                env.name
            ),
        ));
    }
    Ok(out)
}

fn lookup(
    secrets: &SecretData,
    name: &str,
    key: &str,
    field: &str,
    namespace: &str,
) -> Result<String, Invalid> {
    let data = secrets.get(name).ok_or_else(|| {
        invalid(
            field,
            format!(
                "Secret {name:?} with key {key:?} not found in the service's namespace {namespace:?}; create it there, or fix the name"
            ),
        )
    })?;
    // Key names only: the values are secret.
    data.get(key).cloned().ok_or_else(|| {
        let keys: Vec<&String> = data.keys().collect();
        invalid(
            field,
            format!(
                "Secret {name:?} has no key {key:?} (it has {keys:?}); add the key, or fix the Secret"
            ),
        )
    })
}
