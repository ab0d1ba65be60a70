//! `deploy` (replicas, resources), the legacy `scale`, `cpus`, `mem_limit` and `mem_reservation`,
//! and `x-byoc.cpu`/`memory` → `spec.replicas`, `spec.cpu` and `spec.memory`: the nearest valid
//! Fargate size that is not smaller than what Compose asked for, with a note when it differs.
//! Pure; no IO.

use serde_json::Value;

use super::{
    Note, Notes,
    error::{ComposeError, invalid},
    reasons,
    value::{Mapping, child, integer, mapping, number, scalar, sorted_keys, string},
    xbyoc::ServiceExt,
};
use crate::api::fargate::{self, FargateSize, SIZES};

const MIB: f64 = 1024.0 * 1024.0;

/// What `deploy` and its legacy spellings give a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Deploy {
    pub replicas: Option<i32>,
    pub cpu: String,
    pub memory: String,
}

/// An asked-for quantity: its value and its spelling in the file, and where it was written.
struct Asked<T> {
    value: T,
    text: String,
    path: String,
}

/// Reads `deploy`, `scale`, `cpus`, `mem_limit`, `mem_reservation` of the service at `path`.
pub(crate) fn deploy(
    m: &Mapping,
    path: &str,
    ext: &ServiceExt,
    notes: &mut Vec<Note>,
) -> Result<Deploy, ComposeError> {
    let deploy_path = child(path, "deploy");
    let empty = Mapping::new();
    let d = match m.get("deploy") {
        None | Some(Value::Null) => &empty,
        Some(v) => mapping(v, &deploy_path)?,
    };
    for key in sorted_keys(d) {
        let p = child(&deploy_path, key);
        match key.as_str() {
            "replicas" | "resources" => {}
            "mode" => match string(&d[key], &p)?.as_str() {
                "replicated" => {}
                "global" => notes.unsupported(p, "ECS runs the number of replicas given, not one task per node"),
                other => notes.unsupported(p, format!("{other:?}: ECS runs it as a service, restarted whenever it exits, not as a job")),
            },
            _ => notes.unsupported(p, reasons::deploy(key)),
        }
    }
    let replicas = replicas(d, m, path)?;
    let mut cpus: Option<Asked<f64>> = None;
    let mut memory: Option<Asked<u64>> = None;
    let resources_path = child(&deploy_path, "resources");
    if let Some(r) = d.get("resources").filter(|v| !v.is_null()) {
        let r = mapping(r, &resources_path)?;
        for key in sorted_keys(r) {
            let p = child(&resources_path, key);
            match key.as_str() {
                "limits" | "reservations" => {}
                _ => notes.unsupported(p, reasons::deploy(key)),
            }
        }
        for kind in ["limits", "reservations"] {
            let kind_path = child(&resources_path, kind);
            let Some(v) = r.get(kind).filter(|v| !v.is_null()) else {
                continue;
            };
            let lim = mapping(v, &kind_path)?;
            for key in sorted_keys(lim) {
                let p = child(&kind_path, key);
                match key.as_str() {
                    "cpus" if cpus.is_none() => cpus = asked_cpus(&lim[key], &p)?,
                    "memory" if memory.is_none() => memory = asked_memory(&lim[key], &p)?,
                    "cpus" | "memory" => {}
                    "pids" => notes.unsupported(p, "a process limit cannot be set on Fargate"),
                    "devices" | "generic_resources" => {
                        notes.unsupported(p, "Fargate gives no access to devices or GPUs")
                    }
                    _ => notes.unsupported(p, reasons::deploy(key)),
                }
            }
        }
    }
    if cpus.is_none()
        && let Some(v) = m.get("cpus")
    {
        cpus = asked_cpus(v, &child(path, "cpus"))?;
    }
    for key in ["mem_limit", "mem_reservation"] {
        if memory.is_none()
            && let Some(v) = m.get(key)
        {
            memory = asked_memory(v, &child(path, key))?;
        }
    }
    let (cpu, mem) = size(cpus, memory, ext, path, notes)?;
    Ok(Deploy { replicas, cpu, memory: mem })
}

fn replicas(d: &Mapping, m: &Mapping, path: &str) -> Result<Option<i32>, ComposeError> {
    let read = |v: &Value, p: &str| -> Result<Option<i32>, ComposeError> {
        if v.is_null() {
            return Ok(None);
        }
        let n = integer(v, p)?;
        if !(0..=1000).contains(&n) {
            return Err(invalid(p, format!("{n} is out of range; use 0 to 1000")));
        }
        Ok(i32::try_from(n).ok())
    };
    let from_deploy = match d.get("replicas") {
        Some(v) => read(v, &child(&child(path, "deploy"), "replicas"))?,
        None => None,
    };
    let from_scale = match m.get("scale") {
        Some(v) => read(v, &child(path, "scale"))?,
        None => None,
    };
    match (from_deploy, from_scale) {
        (Some(a), Some(b)) if a != b => Err(invalid(
            child(path, "scale"),
            format!("scale {b} contradicts deploy.replicas {a}; keep one of them"),
        )),
        (a, b) => Ok(a.or(b)),
    }
}

fn asked_cpus(v: &Value, path: &str) -> Result<Option<Asked<f64>>, ComposeError> {
    if v.is_null() {
        return Ok(None);
    }
    let n = number(v, path)?;
    if n < 0.0 {
        return Err(invalid(path, format!("{n} is negative; give the vCPUs, e.g. 0.5")));
    }
    // 0 means "no limit" in Compose: the smallest size.
    Ok((n > 0.0).then(|| Asked {
        value: n,
        text: scalar(v, path).unwrap_or_default(),
        path: path.to_string(),
    }))
}

fn asked_memory(v: &Value, path: &str) -> Result<Option<Asked<u64>>, ComposeError> {
    if v.is_null() {
        return Ok(None);
    }
    let text = scalar(v, path)?;
    let bytes = memory_bytes(&text).ok_or_else(|| {
        invalid(path, format!("{text:?} is not a memory size; write e.g. 512m or 2g (b, k, m, g)"))
    })?;
    Ok((bytes > 0).then(|| Asked { value: bytes, text, path: path.to_string() }))
}

/// Bytes in a Compose memory size: a number with an optional unit `b`, `k`, `m`, `g`, `t`
/// (binary, with an optional `b`/`ib`, any case), e.g. `300M`, `1.5g`, `512mb`, `1GiB`.
pub(crate) fn memory_bytes(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let digits_end = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits_end);
    let n: f64 = num.parse().ok().filter(|n: &f64| n.is_finite())?;
    let unit = unit.trim_start();
    let unit = unit.strip_suffix('b').unwrap_or(unit);
    let unit = unit.strip_suffix('i').filter(|u| !u.is_empty()).unwrap_or(unit);
    let factor: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => MIB,
        "g" => MIB * 1024.0,
        "t" => MIB * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = (n * factor).ceil();
    (bytes < 1e18).then_some(bytes as u64)
}

/// The smallest memory (MiB) of `size` that holds `want` MiB, if any.
fn fit(size: &FargateSize, want: u32) -> Option<u32> {
    if !size.memory_choices.is_empty() {
        return size.memory_choices.iter().copied().find(|&c| c >= want);
    }
    if want <= size.memory_min_mib {
        return Some(size.memory_min_mib);
    }
    let m = size.memory_min_mib
        + (want - size.memory_min_mib).div_ceil(size.memory_step_mib) * size.memory_step_mib;
    (m <= size.memory_max_mib).then_some(m)
}

fn smallest_memory(size: &FargateSize) -> u32 {
    size.memory_choices.first().copied().unwrap_or(size.memory_min_mib)
}

/// The nearest Fargate size not smaller than `cpu_units` and `memory_mib` (smallest memory of
/// the size when unset): the CPU size and the memory in MiB.
pub(crate) fn nearest(
    cpu_units: u32,
    memory_mib: Option<u32>,
) -> Option<(&'static FargateSize, u32)> {
    SIZES.iter().filter(|s| s.cpu_units >= cpu_units).find_map(|s| {
        let m = match memory_mib {
            None => Some(smallest_memory(s)),
            Some(want) => fit(s, want),
        };
        m.map(|m| (s, m))
    })
}

/// MiB written as the API takes it: `<n>Gi` when whole GiB, else `<n>Mi`.
pub(crate) fn format_mib(mib: u32) -> String {
    if mib.is_multiple_of(1024) { format!("{}Gi", mib / 1024) } else { format!("{mib}Mi") }
}

fn cpu_text(size: &FargateSize) -> String {
    size.cpu_spellings.first().copied().unwrap_or("0.25").to_string()
}

fn size(
    cpus: Option<Asked<f64>>,
    memory: Option<Asked<u64>>,
    ext: &ServiceExt,
    path: &str,
    notes: &mut Vec<Note>,
) -> Result<(String, String), ComposeError> {
    let units = cpus.as_ref().map_or(256.0, |c| (c.value * 1024.0 - 1e-6).ceil());
    let mib = memory.as_ref().map(|m| (m.value as f64 / MIB - 1e-9).ceil());
    let too_large = "too large: the largest Fargate size is 16 vCPU with 120Gi";
    if let Some(c) = cpus.as_ref().filter(|_| units > 16384.0) {
        return Err(invalid(&c.path, too_large));
    }
    if let Some(m) = memory.as_ref().filter(|_| mib.is_some_and(|m| m > 122_880.0)) {
        return Err(invalid(&m.path, too_large));
    }
    let (units, mib) = (units as u32, mib.map(|m| m as u32));
    // Where the note goes: the resources block, or the legacy field.
    let at =
        cpus.as_ref().map(|c| c.path.clone()).or_else(|| memory.as_ref().map(|m| m.path.clone()));
    let at = at.map(|a| {
        a.split(".limits.")
            .next()
            .unwrap_or(&a)
            .split(".reservations.")
            .next()
            .unwrap_or(&a)
            .to_string()
    });
    if let Some(fixed) = fixed_size(ext, units, mib, path)? {
        if let Some(at) = at {
            notes
                .changed(at, format!("overridden by x-byoc: {} vCPU, memory {}", fixed.0, fixed.1));
        }
        return Ok(fixed);
    }
    let (s, m) = nearest(units, mib).ok_or_else(|| invalid(path, too_large))?;
    let cpu_changed = match &cpus {
        Some(c) => (c.value * 1024.0 - f64::from(s.cpu_units)).abs() > 1e-6,
        None => s.cpu_units > 256,
    };
    let mem_changed = memory.as_ref().is_some_and(|a| a.value != u64::from(m) * 1024 * 1024);
    if cpu_changed || mem_changed {
        let cpu_from = cpus.as_ref().map_or("(not set)".to_string(), |c| c.text.clone());
        let mut changed = Vec::new();
        let mut kept = Vec::new();
        if cpu_changed {
            changed.push(format!("cpus {cpu_from} → {} vCPU", cpu_text(s)));
        } else if cpus.is_some() {
            kept.push(format!("cpus {cpu_from}"));
        }
        if let Some(a) = &memory {
            if mem_changed {
                changed.push(format!("memory {} → {}", a.text, format_mib(m)));
            } else {
                kept.push(format!("memory {}", a.text));
            }
        }
        let with =
            if kept.is_empty() { String::new() } else { format!(" for {}", kept.join(", ")) };
        notes.changed(
            at.unwrap_or_else(|| path.to_string()),
            format!("{}: nearest Fargate size{with}", changed.join(", ")),
        );
    }
    Ok((cpu_text(s), format_mib(m)))
}

/// The size `x-byoc.cpu` and `memory` fix (the other one filled in to fit), if they are set.
fn fixed_size(
    ext: &ServiceExt,
    units: u32,
    mib: Option<u32>,
    path: &str,
) -> Result<Option<(String, String)>, ComposeError> {
    let ext_path = child(path, "x-byoc");
    match (&ext.cpu, &ext.memory) {
        (Some(cpu), Some(memory)) => {
            fargate::check_size(cpu, memory).map_err(|m| invalid(child(&ext_path, "memory"), m))?;
            Ok(Some((cpu.clone(), memory.clone())))
        }
        (Some(cpu), None) => {
            let m = fargate::cpu_units(cpu)
                .and_then(fargate::size_for)
                .and_then(|s| fit(s, mib.unwrap_or(0)));
            let m = m.ok_or_else(|| {
                invalid(child(&ext_path, "cpu"), format!("{cpu} vCPU cannot hold the memory asked for; raise cpu or set x-byoc.memory"))
            })?;
            Ok(Some((cpu.clone(), format_mib(m))))
        }
        (None, Some(memory)) => {
            let want = fargate::memory_mib(memory).unwrap_or(0);
            let s = SIZES.iter().find(|s| s.cpu_units >= units && s.accepts(want)).ok_or_else(|| {
                invalid(child(&ext_path, "memory"), format!("no Fargate cpu size takes {memory} with the cpus asked for; set x-byoc.cpu too"))
            })?;
            Ok(Some((cpu_text(s), memory.clone())))
        }
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
#[path = "deploy_tests.rs"]
mod tests;
