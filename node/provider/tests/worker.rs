//! The worker against a scripted chain: it answers an issued challenge with the workload's
//! true root and reveals the drawn step with openings the runtime's audit accepts.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use gpu_verify::challenge::{audit_step, AuditVerdict, ChallengeShape};
use menara_chain_spec::keyring;
use menara_primitives::{AccountId, Header, SignedTransaction, H256};
use menara_provider::{Chain, Engine, Provider, ProviderConfig};
use menara_runtime::pallet_compute::{Call, Challenge, ChallengeState, ChallengeView};
use menara_runtime::RuntimeCall;
use parity_scale_codec::{DecodeAll, Encode};
use parking_lot::Mutex;
use tokio::sync::broadcast;

struct FakeChain {
    open: Mutex<Vec<ChallengeView>>,
    submitted: Mutex<Vec<RuntimeCall>>,
    heads: broadcast::Sender<Header>,
}

impl Chain for FakeChain {
    fn genesis_hash(&self) -> H256 {
        H256([1; 32])
    }
    fn query(&self, method: &[u8], args: &[u8]) -> Result<Vec<u8>, String> {
        assert_eq!(method, b"compute_challenges");
        assert_eq!(args, keyring::dev_account("Bob").encode());
        Ok(self.open.lock().encode())
    }
    fn next_nonce(&self, _who: &AccountId) -> Result<u64, String> {
        Ok(self.submitted.lock().len() as u64)
    }
    fn submit(&self, tx: Vec<u8>) -> Result<H256, String> {
        let tx = SignedTransaction::<RuntimeCall>::decode_all(&mut &tx[..])
            .map_err(|e| e.to_string())?;
        assert_eq!(tx.signer, keyring::dev_account("Bob"));
        self.submitted.lock().push(tx.call);
        Ok(H256::zero())
    }
    fn new_heads(&self) -> broadcast::Receiver<Header> {
        self.heads.subscribe()
    }
    fn model_file(&self, _id: &H256) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }
    fn request_model(&self, _id: &H256) -> Result<(), String> {
        Ok(())
    }
}

#[tokio::test]
async fn answers_with_the_true_root_and_reveals_an_opening_the_audit_accepts() {
    let shape = ChallengeShape {
        seq: 4,
        width: 32,
        depth: 40,
    };
    let seed = H256([3; 32]);
    let mut challenge = Challenge {
        lease: 0,
        provider: keyring::dev_account("Bob"),
        seed,
        shape,
        issued_at: 10,
        answer_by: 20,
        state: ChallengeState::Issued,
    };
    let chain = std::sync::Arc::new(FakeChain {
        open: Mutex::new(vec![ChallengeView {
            id: 7,
            challenge: challenge.clone(),
            audit_step: None,
        }]),
        submitted: Mutex::new(Vec::new()),
        heads: broadcast::channel(4).0,
    });
    let mut worker = Provider::new(
        chain.clone(),
        ProviderConfig {
            key: keyring::dev_signing_key("Bob"),
            engine: Engine::cpu(1).unwrap(),
            resubmit_after: 3,
        },
    );
    worker.on_block(11).await.unwrap();
    let root = match chain.submitted.lock().as_slice() {
        [RuntimeCall::Compute(Call::Answer { challenge: 7, root })] => *root,
        other => panic!("expected one answer, got {other:?}"),
    };
    // Not answered twice while the answer is on its way.
    worker.on_block(12).await.unwrap();
    assert_eq!(chain.submitted.lock().len(), 1);

    challenge.state = ChallengeState::Answered {
        root,
        answered_at: 12,
        reveal_by: 23,
    };
    *chain.open.lock() = vec![ChallengeView {
        id: 7,
        challenge,
        audit_step: Some(17),
    }];
    worker.on_block(14).await.unwrap();
    let opening = match chain.submitted.lock().as_slice() {
        [_, RuntimeCall::Compute(Call::Reveal {
            challenge: 7,
            opening,
        })] => opening.clone(),
        other => panic!("expected a reveal, got {other:?}"),
    };
    assert_eq!(
        audit_step(&seed.0, shape, 17, &root.0, &opening).unwrap(),
        AuditVerdict::Honest
    );
    // Once the challenge is no longer open, the worker forgets it.
    chain.open.lock().clear();
    worker.on_block(15).await.unwrap();
    assert_eq!(chain.submitted.lock().len(), 2);
}
