//! Fargate task sizes: parsing `cpu` and `memory` quantities and the table of valid combinations.
//!
//! Pure. The same table produces the CEL rule in the CRD (`size_rule`) and the Rust check
//! (`check_size`), so the API server and `byoc plan` agree on what is valid.

/// One Fargate CPU size and the memory sizes (MiB) it accepts: `min..=max` in steps of `step`,
/// or exactly `choices` when that is not empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FargateSize {
    /// CPU units (1024 = 1 vCPU).
    pub cpu_units: u32,
    /// The spellings users may write for this size.
    pub cpu_spellings: &'static [&'static str],
    pub memory_min_mib: u32,
    pub memory_max_mib: u32,
    pub memory_step_mib: u32,
    pub memory_choices: &'static [u32],
}

/// Fargate's valid task sizes (Linux), from the ECS task definition reference.
pub const SIZES: &[FargateSize] = &[
    FargateSize {
        memory_choices: &[512, 1024, 2048],
        ..size(256, &["0.25", "250m", "256m"], 512, 2048, 512)
    },
    size(512, &["0.5", "500m", "512m"], 1024, 4096, 1024),
    size(1024, &["1", "1000m", "1024m"], 2048, 8192, 1024),
    size(2048, &["2", "2000m", "2048m"], 4096, 16384, 1024),
    size(4096, &["4", "4000m", "4096m"], 8192, 30720, 1024),
    size(8192, &["8", "8000m", "8192m"], 16384, 61440, 4096),
    size(16384, &["16", "16000m", "16384m"], 32768, 122880, 8192),
];

const fn size(
    cpu_units: u32,
    cpu_spellings: &'static [&'static str],
    memory_min_mib: u32,
    memory_max_mib: u32,
    memory_step_mib: u32,
) -> FargateSize {
    FargateSize {
        cpu_units,
        cpu_spellings,
        memory_min_mib,
        memory_max_mib,
        memory_step_mib,
        memory_choices: &[],
    }
}

/// Pattern for `cpu`: one of the spellings in `SIZES`.
pub const CPU_PATTERN: &str = r"^(0\.25|250m|256m|0\.5|500m|512m|1|1000m|1024m|2|2000m|2048m|4|4000m|4096m|8|8000m|8192m|16|16000m|16384m)$";
/// Pattern for `memory`: a whole number of `Mi` or `Gi`.
pub const MEMORY_PATTERN: &str = r"^[1-9][0-9]{0,6}(Mi|Gi)$";

/// CPU units for a `cpu` quantity, if it is one of Fargate's sizes.
pub fn cpu_units(cpu: &str) -> Option<u32> {
    SIZES.iter().find(|s| s.cpu_spellings.contains(&cpu)).map(|s| s.cpu_units)
}

/// MiB for a `memory` quantity written as `<n>Mi` or `<n>Gi`.
pub fn memory_mib(memory: &str) -> Option<u32> {
    let (digits, factor) = if let Some(d) = memory.strip_suffix("Gi") {
        (d, 1024)
    } else {
        (memory.strip_suffix("Mi")?, 1)
    };
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u32>().ok()?.checked_mul(factor)
}

/// The Fargate size for `cpu_units`.
pub fn size_for(cpu_units: u32) -> Option<&'static FargateSize> {
    SIZES.iter().find(|s| s.cpu_units == cpu_units)
}

impl FargateSize {
    /// Whether this CPU size accepts `memory_mib`.
    pub fn accepts(&self, memory_mib: u32) -> bool {
        if !self.memory_choices.is_empty() {
            return self.memory_choices.contains(&memory_mib);
        }
        (self.memory_min_mib..=self.memory_max_mib).contains(&memory_mib)
            && (memory_mib - self.memory_min_mib).is_multiple_of(self.memory_step_mib)
    }

    /// Human description of the accepted memory sizes, for error messages.
    pub fn describe_memory(&self) -> String {
        if !self.memory_choices.is_empty() {
            let choices: Vec<String> =
                self.memory_choices.iter().map(|m| format!("{m}Mi")).collect();
            return format!("one of {}", choices.join(", "));
        }
        format!(
            "{}Mi to {}Mi in steps of {}Mi",
            self.memory_min_mib, self.memory_max_mib, self.memory_step_mib
        )
    }
}

/// Checks a `cpu`/`memory` pair; the error says what to write instead.
pub fn check_size(cpu: &str, memory: &str) -> Result<(u32, u32), String> {
    let units = cpu_units(cpu).ok_or_else(|| {
        format!("cpu {cpu:?} is not a Fargate size; use one of 0.25, 0.5, 1, 2, 4, 8, 16 (vCPU)")
    })?;
    let mib = memory_mib(memory).ok_or_else(|| {
        format!("memory {memory:?} must be a whole number of Mi or Gi, such as 512Mi or 2Gi")
    })?;
    // `units` came from SIZES, so the lookup cannot fail; fall back to a clear error anyway.
    let size = size_for(units).ok_or_else(|| format!("cpu {cpu:?} has no Fargate size"))?;
    if size.accepts(mib) {
        Ok((units, mib))
    } else {
        Err(format!(
            "memory {memory} is not valid with cpu {cpu} on Fargate; use {}",
            size.describe_memory()
        ))
    }
}

/// The CEL rule, evaluated on the `CloudService` spec, that accepts only valid combinations.
pub fn size_rule() -> String {
    let mib = "(int(self.memory.substring(0, size(self.memory) - 2)) * (self.memory.endsWith('Gi') ? 1024 : 1))";
    let clauses: Vec<String> = SIZES
        .iter()
        .map(|s| {
            let spellings: Vec<String> = s.cpu_spellings.iter().map(|c| format!("'{c}'")).collect();
            if !s.memory_choices.is_empty() {
                let choices: Vec<String> = s.memory_choices.iter().map(u32::to_string).collect();
                return format!(
                    "(self.cpu in [{}] && {mib} in [{}])",
                    spellings.join(", "),
                    choices.join(", ")
                );
            }
            format!(
                "(self.cpu in [{}] && {mib} >= {} && {mib} <= {} && ({mib} - {}) % {} == 0)",
                spellings.join(", "),
                s.memory_min_mib,
                s.memory_max_mib,
                s.memory_min_mib,
                s.memory_step_mib
            )
        })
        .collect();
    clauses.join(" || ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_fargate_sizes() {
        let cases = [
            ("0.25", "512Mi", true, "smallest size"),
            ("0.25", "2Gi", true, "largest memory for 0.25 vCPU"),
            ("0.25", "1536Mi", false, "0.25 vCPU takes only 512Mi, 1Gi or 2Gi"),
            ("0.25", "4Gi", false, "too much memory for 0.25 vCPU"),
            ("1", "3Gi", true, "1 vCPU with 3 GiB"),
            ("1", "1Gi", false, "too little memory for 1 vCPU"),
            ("8", "20Gi", true, "8 vCPU on a 4 GiB step"),
            ("8", "18Gi", false, "8 vCPU off the 4 GiB step"),
            ("16", "120Gi", true, "16 vCPU on an 8 GiB step"),
            ("0.3", "1Gi", false, "not a Fargate cpu"),
            ("1", "2048Mi", true, "memory in Mi"),
            ("1", "2G", false, "decimal unit"),
            ("1", "02Gi", false, "leading zero"),
        ];
        for (cpu, memory, ok, reason) in cases {
            assert_eq!(check_size(cpu, memory).is_ok(), ok, "{reason}: {cpu}/{memory}");
        }
    }

    #[test]
    fn error_names_the_memory_range_to_use() {
        let err = check_size("0.25", "4Gi").unwrap_err();
        assert!(err.contains("512Mi, 1024Mi, 2048Mi"), "{err}");
    }

    #[test]
    fn cpu_pattern_lists_exactly_the_table_spellings() {
        let re = regex::Regex::new(CPU_PATTERN).unwrap();
        for s in SIZES {
            for c in s.cpu_spellings {
                assert!(re.is_match(c), "{c}");
            }
        }
        assert!(!re.is_match("3"));
    }
}
