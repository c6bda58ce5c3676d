//! Turning arms into eval plans: each arm is the suite with its targets replaced by the arm's
//! prompt and its providers by the arm's provider, planned by the eval engine like any suite,
//! so the arms share the cases, the provider layers and the response cache, and each arm's
//! results are an ordinary eval run in the store.

use super::arm::Arm;
use super::error::AbError;
use crate::eval::Overrides;
use crate::eval::suite::LoadedSuite;

/// The suite and overrides one arm runs with. A provider-only arm needs a suite with a single
/// target; a prompt-only arm a suite (or `--provider`) with at most one provider — with none,
/// the prompt's own `model:` or `defaults.provider` applies, as in `eval`.
pub fn arm_suite(suite: &LoadedSuite, arm: &Arm, base: &Overrides) -> Result<(LoadedSuite, Overrides), AbError> {
    let mut suite = suite.clone();
    match &arm.prompt {
        Some(prompt) => suite.file.targets = vec![prompt.clone()],
        None if suite.file.targets.len() == 1 => {}
        None => {
            return Err(AbError::NeedsPrompt {
                arm: arm.text.clone(),
                suite: suite.name.clone(),
                targets: suite.file.targets.len(),
            });
        }
    }
    let mut overrides = base.clone();
    match &arm.provider {
        Some(provider) => overrides.providers = vec![provider.clone()],
        None => {
            let listed = if base.providers.is_empty() { &suite.file.providers } else { &base.providers };
            if listed.len() > 1 {
                return Err(AbError::NeedsProvider {
                    arm: arm.text.clone(),
                    suite: suite.name.clone(),
                    providers: listed.clone(),
                });
            }
        }
    }
    Ok((suite, overrides))
}
