//! The CPU check: llama.cpp's kernels are compiled for a fixed instruction set (see
//! `.cargo/config.toml`); a CPU without it gets a clear error instead of SIGILL mid-load.

/// Checks that this CPU has the SIMD instructions llama.cpp was compiled for (see
/// `.cargo/config.toml`); without them ggml would die with SIGILL mid-load.
pub(crate) fn cpu_check() -> Result<(), String> {
    #[cfg(target_arch = "x86_64")]
    {
        let on = |v: Option<&str>| matches!(v, Some("ON" | "on" | "1" | "TRUE" | "true"));
        let mut missing = Vec::new();
        if on(option_env!("GGML_AVX2")) && !std::arch::is_x86_feature_detected!("avx2") {
            missing.push("avx2");
        }
        if on(option_env!("GGML_FMA")) && !std::arch::is_x86_feature_detected!("fma") {
            missing.push("fma");
        }
        if on(option_env!("GGML_F16C")) && !std::arch::is_x86_feature_detected!("f16c") {
            missing.push("f16c");
        }
        if on(option_env!("GGML_BMI2")) && !std::arch::is_x86_feature_detected!("bmi2") {
            missing.push("bmi2");
        }
        if on(option_env!("GGML_AVX")) && !std::arch::is_x86_feature_detected!("avx") {
            missing.push("avx");
        }
        if !missing.is_empty() {
            return Err(format!(
                "this cpu lacks {} that llama.cpp was built for: rebuild with those GGML_* \
                 options set to OFF (see secllama-runner/README.md, \"llama.cpp build\")",
                missing.join(", ")
            ));
        }
    }
    Ok(())
}
