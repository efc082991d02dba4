//! Where the model goes: the backends this runner binary was built with, the devices ggml
//! found inside the sandbox, and the decision for a load request's `gpu_layers`.
//!
//! Plain data, so the decision is unit-tested without llama.cpp or a GPU. The host does not
//! guess what the runner can do from its own cargo features: the runner says it here, in its
//! ready message or in one clear error.

/// The backends compiled into this binary, `CPU` first.
pub(crate) fn compiled_backends() -> Vec<String> {
    let mut out = vec!["CPU".to_owned()];
    if cfg!(feature = "cuda") {
        out.push("CUDA".to_owned());
    }
    if cfg!(feature = "vulkan") {
        out.push("Vulkan".to_owned());
    }
    if cfg!(feature = "metal") {
        out.push("Metal".to_owned());
    }
    out
}

/// A ggml backend device as the runner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Device {
    /// ggml's index, for `LlamaModelParams::with_devices`.
    pub(crate) index: usize,
    /// The backend (`CPU`, `Vulkan`, `CUDA`, `Metal`).
    pub(crate) backend: String,
    /// The driver's name for it (e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`).
    pub(crate) description: String,
    /// A GPU (discrete or integrated) that layers can be offloaded to.
    pub(crate) gpu: bool,
}

/// Where the model is loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Placement {
    /// The GPU device's index, `None` on the CPU.
    pub(crate) device_index: Option<usize>,
    /// The backend name reported in `ready`.
    pub(crate) backend: String,
    /// The device name reported in `ready`.
    pub(crate) device: String,
    /// The layers to ask llama.cpp for (0 on the CPU).
    pub(crate) gpu_layers: u32,
    /// A warning to print when GPU layers were asked for and the CPU fallback was taken.
    pub(crate) fallback_warning: Option<String>,
}

impl Placement {
    fn cpu(fallback_warning: Option<String>) -> Self {
        Placement {
            device_index: None,
            backend: "CPU".to_owned(),
            device: "CPU".to_owned(),
            gpu_layers: 0,
            fallback_warning,
        }
    }
}

/// Decides where a model asked with `gpu_layers` goes, given the compiled `backends` and the
/// `devices` found. `Err` is the one line the host shows when the GPU was asked for and
/// cannot be had, and falling back was not allowed.
pub(crate) fn choose(
    gpu_layers: u32,
    cpu_fallback: bool,
    backends: &[String],
    devices: &[Device],
) -> Result<Placement, String> {
    if gpu_layers == 0 {
        return Ok(Placement::cpu(None));
    }
    let gpu_backends: Vec<&str> = backends
        .iter()
        .map(String::as_str)
        .filter(|b| *b != "CPU")
        .collect();
    let why = if gpu_backends.is_empty() {
        format!(
            "{gpu_layers} GPU layers were asked for, but this secllama-runner was built without \
             a GPU backend (build it with --features vulkan, cuda or metal, or ask for 0 GPU \
             layers)"
        )
    } else if let Some(dev) = devices.iter().find(|d| d.gpu) {
        return Ok(Placement {
            device_index: Some(dev.index),
            backend: dev.backend.clone(),
            device: dev.description.clone(),
            gpu_layers,
            fallback_warning: None,
        });
    } else {
        format!(
            "{gpu_layers} GPU layers were asked for, but this secllama-runner ({}) found no usable \
             GPU device inside its sandbox (no driver or device node, or the device is hidden; \
             for a CPU Vulkan driver such as lavapipe set GGML_VK_VISIBLE_DEVICES)",
            gpu_backends.join(", ")
        )
    };
    if cpu_fallback {
        Ok(Placement::cpu(Some(format!(
            "{why}; loading on the CPU instead"
        ))))
    } else {
        Err(why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn cpu_dev() -> Device {
        Device {
            index: 0,
            backend: "CPU".into(),
            description: "Intel Xeon".into(),
            gpu: false,
        }
    }

    fn lavapipe(index: usize) -> Device {
        Device {
            index,
            backend: "Vulkan".into(),
            description: "llvmpipe (LLVM 15.0.6, 256 bits)".into(),
            gpu: true,
        }
    }

    #[test]
    fn zero_gpu_layers_is_the_cpu_whatever_is_compiled() {
        let p = choose(0, false, &names(&["CPU", "Vulkan"]), &[lavapipe(0)]).unwrap();
        assert_eq!(p, Placement::cpu(None));
    }

    #[test]
    fn a_gpu_device_takes_the_layers() {
        let devices = [lavapipe(0), cpu_dev()];
        let p = choose(99, false, &names(&["CPU", "Vulkan"]), &devices).unwrap();
        assert_eq!(p.device_index, Some(0));
        assert_eq!(p.backend, "Vulkan");
        assert_eq!(p.device, "llvmpipe (LLVM 15.0.6, 256 bits)");
        assert_eq!(p.gpu_layers, 99);
        assert_eq!(p.fallback_warning, None);
    }

    #[test]
    fn a_cpu_only_build_refuses_gpu_layers_in_one_line() {
        let err = choose(99, false, &names(&["CPU"]), &[cpu_dev()]).unwrap_err();
        assert_eq!(
            err,
            "99 GPU layers were asked for, but this secllama-runner was built without a GPU \
             backend (build it with --features vulkan, cuda or metal, or ask for 0 GPU layers)"
        );
        assert!(!err.contains('\n'));
    }

    #[test]
    fn a_gpu_build_without_a_device_refuses_and_names_its_backends() {
        let err = choose(4, false, &names(&["CPU", "Vulkan"]), &[cpu_dev()]).unwrap_err();
        assert!(
            err.starts_with(
                "4 GPU layers were asked for, but this secllama-runner (Vulkan) found no usable \
                 GPU device inside its sandbox"
            ),
            "{err}"
        );
    }

    #[test]
    fn the_fallback_is_taken_only_when_allowed_and_says_so() {
        for backends in [names(&["CPU"]), names(&["CPU", "CUDA"])] {
            let p = choose(8, true, &backends, &[cpu_dev()]).unwrap();
            assert_eq!(p.backend, "CPU");
            assert_eq!(p.gpu_layers, 0);
            let warning = p.fallback_warning.unwrap();
            assert!(
                warning.ends_with("; loading on the CPU instead"),
                "{warning}"
            );
        }
    }

    #[test]
    fn compiled_backends_start_with_the_cpu() {
        let b = compiled_backends();
        assert_eq!(b[0], "CPU");
        assert_eq!(b.iter().any(|n| n == "Vulkan"), cfg!(feature = "vulkan"));
        assert_eq!(b.iter().any(|n| n == "CUDA"), cfg!(feature = "cuda"));
    }
}
