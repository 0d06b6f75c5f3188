#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use gpu_verify_core::engine::{run as run_model, run_layer, RefGemm, Trace};
use gpu_verify_core::format::{ModelFile, Tensor};
use gpu_verify_core::model::{
    Block, Embedding, Encoder, EncoderConfig, LayerNorm, Linear, Model, KIND_MLP,
};
use gpu_verify_core::numerics::Requant;
use menara_state_machine::{Ext, InMemoryState, OverlayedChanges};
use menara_support::io;
use pallet_compute::{GpuClass, ProviderStatus, Resources};
use pallet_models::{ModelKind, ModelParams};
use pallet_randomness::storage::History;
use proptest::prelude::*;

struct Test;
impl pallet_system::Config for Test {
    const PALLET_INDEX: u8 = 0;
    const MAX_EVENTS_PER_BLOCK: u32 = 1_000_000;
    const SPEC_NAME: &'static str = "menara";
    const SPEC_VERSION: u32 = 1;
    const MAX_CODE_SIZE: u32 = 1 << 20;
}
impl pallet_balances::Config for Test {
    const PALLET_INDEX: u8 = 1;
    const EXISTENTIAL_DEPOSIT: Balance = 10;
}
impl pallet_session::Config for Test {
    const PALLET_INDEX: u8 = 2;
}
impl pallet_models::Config for Test {
    const PALLET_INDEX: u8 = 5;
    const DEPOSIT_BASE: Balance = 100;
    const DEPOSIT_PER_BYTE: Balance = 1;
    const MAX_MODEL_SIZE: u64 = 8 << 30;
}
impl pallet_randomness::Config for Test {
    const PALLET_INDEX: u8 = 6;
}
impl pallet_compute::Config for Test {
    const PALLET_INDEX: u8 = 7;
    const COLLATERAL_PER_GPU: Balance = 1_000;
    const BID_DEPOSIT: Balance = 50;
    const MAX_BIDS_PER_ORDER: u32 = 3;
    const MIN_ESCROW_BLOCKS: BlockNumber = 5;
    const MAX_LEASE_BLOCKS: BlockNumber = 10_000;
    const BID_WINDOW: BlockNumber = 3;
    const ORDER_TTL: BlockNumber = 20;
    const NOTICE_BLOCKS: BlockNumber = 4;
    const UNBONDING_BLOCKS: BlockNumber = 10;
    const CHALLENGE_PERIOD: BlockNumber = 5;
    const MAX_CHALLENGES_PER_BLOCK: u32 = 2;
    const ANSWER_BLOCKS: BlockNumber = 3;
    const REVEAL_BLOCKS: BlockNumber = 3;
    const MAX_AUDITS_PER_BLOCK: u32 = 2;
    const CHALLENGE_SLASH_PER_MILL: u32 = 100;
    const JAIL_BLOCKS: BlockNumber = 100;
}
impl Config for Test {
    const PALLET_INDEX: u8 = 8;
    const MAX_INPUT_BYTES: u32 = 1_024;
    const COMMIT_BLOCKS: BlockNumber = 5;
    const CHALLENGE_WINDOW: BlockNumber = 10;
    const DEFAULT_SAMPLE_PER_MILL: u32 = 250;
    const DEFAULT_DOUBLE_PER_MILL: u32 = 500;
    const VERIFY_FEE_PER_MILL: u32 = 50;
    const CHEAT_SLASH_PER_MILL: u32 = 500;
    const MISS_SLASH_PER_MILL: u32 = 10;
    const CHALLENGE_BOND: Balance = 1_000;
    const CHALLENGER_SHARE_PER_MILL: u32 = 200;
    const MIN_VERIFIER_BOND: Balance = 10_000;
    const VERIFIER_MISS_PER_MILL: u32 = 10;
    const VERIFIER_WRONG_PER_MILL: u32 = 200;
    const VERIFIER_UNBONDING: BlockNumber = 4;
    const MAX_DISPUTE_WORK_PER_BLOCK: u64 = 1_000_000;
}
type Inference = Pallet<Test>;
type Bal = pallet_balances::Pallet<Test>;
type Compute = pallet_compute::Pallet<Test>;
type Models = pallet_models::Pallet<Test>;
type Randomness = pallet_randomness::Pallet<Test>;

const FUNDS: Balance = 1_000_000_000;
const ACCOUNTS: u8 = 8;
const ISSUANCE: Balance = FUNDS * ACCOUNTS as Balance;
/// Registers the models and holds all their shares.
const OWNER: u8 = 8;
const PRICE: Balance = 1_000;
const ROYALTY: Balance = 30;
/// 5% of the price.
const VERIFY_FEE: Balance = 50;
const COLLATERAL: Balance = 60_000;
const BOND: Balance = 10_000;
const CHALLENGE_BOND: Balance = 1_000;

fn acc(i: u8) -> AccountId {
    AccountId([i; 32])
}

fn free(i: u8) -> Balance {
    Bal::free_balance(&acc(i))
}

// ---------------------------------------------------------------- models

/// Deterministic pseudo-random numbers for the model builders.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo) as u64) as i64
    }
    fn i8s(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.range(-127, 128) as i8).collect()
    }
}

/// gpu-verify's tiny MLP (4 -> 6 -> 5 -> 3, at most 16 rows); `salt` makes another model.
fn tiny_mlp(salt: u32) -> ModelFile {
    let mut t = Vec::new();
    let dims = [(6u32, 4u32), (5, 6), (3, 5)];
    for (l, (n, k)) in dims.iter().enumerate() {
        let w: Vec<i8> = (0..n * k)
            .map(|x| ((x * 7 + l as u32 + salt) % 11) as i8 - 5)
            .collect();
        t.push(Tensor::from_i8(&format!("mlp{l:03}.w"), &[*n, *k], &w));
        t.push(Tensor::from_i32(
            &format!("mlp{l:03}.b"),
            &[*n],
            &vec![3; *n as usize],
        ));
        t.push(Tensor::from_i32(
            &format!("mlp{l:03}.m"),
            &[*n],
            &vec![1 << 20; *n as usize],
        ));
        t.push(Tensor::from_u8(
            &format!("mlp{l:03}.s"),
            &[*n],
            &vec![22; *n as usize],
        ));
    }
    let mut params = [0u32; N_PARAMS];
    params[0] = 3;
    params[1] = 4;
    params[2] = 16;
    ModelFile::new(KIND_MLP, params, t).unwrap()
}

/// A requantisation factor close to `r`.
fn rq(r: f64) -> Requant {
    let mut shift = 0u8;
    while shift < 40 && r * f64::powi(2.0, shift as i32 + 1) < (1u64 << 30) as f64 {
        shift += 1;
    }
    Requant {
        m: (r * f64::powi(2.0, shift as i32)).round() as i32,
        shift,
    }
}

fn linear(g: &mut Lcg, n: usize, k: usize, r: f64) -> Linear {
    Linear {
        n,
        k,
        w: g.i8s(n * k),
        b: (0..n).map(|_| g.range(-2000, 2000) as i32).collect(),
        rq: (0..n).map(|_| rq(r)).collect(),
    }
}

fn layer_norm(g: &mut Lcg, h: usize) -> LayerNorm {
    LayerNorm {
        g: (0..h).map(|_| g.range(1 << 19, 3 << 19) as i32).collect(),
        b: (0..h).map(|_| g.range(-500, 500) << 20).collect(),
        eps: g.range(0, 16),
        shift: 20,
    }
}

fn embedding(g: &mut Lcg, rows: usize, cols: usize) -> Embedding {
    Embedding {
        rows,
        cols,
        q: g.i8s(rows * cols),
        rq: vec![rq(16384.0 / 127.0 / 2.0); rows],
    }
}

/// A one-block encoder (hidden 8, 2 heads): 4 committed layers (embeddings, attention,
/// feed-forward, pooling).
fn tiny_encoder() -> ModelFile {
    let cfg = EncoderConfig {
        vocab: 16,
        hidden: 8,
        layers: 1,
        heads: 2,
        intermediate: 16,
        max_positions: 8,
        max_seq_len: 8,
        cls: 1,
        sep: 2,
        unk: 3,
    };
    let g = &mut Lcg(7);
    let (h, i) = (cfg.hidden, cfg.intermediate);
    let sh = (h as f64).sqrt();
    let d = (h / cfg.heads) as f64;
    let block = Block {
        in_qkv: vec![rq(1.0 / 256.0); h],
        ctx: vec![rq(3.0 / 32768.0); h],
        in_f1: vec![rq(1.0 / 256.0); h],
        gelu: vec![rq(127.0 / (4.0 * 4096.0)); i],
        qkv: linear(g, 3 * h, h, 30.0 / (1168.0 * sh)),
        o: linear(g, h, h, 16384.0 / (2190.0 * sh)),
        f1: linear(g, i, h, 6144.0 / (1168.0 * sh)),
        f2: linear(g, h, i, 16384.0 / (2920.0 * (i as f64).sqrt())),
        ln1: layer_norm(g, h),
        ln2: layer_norm(g, h),
        score: rq(6144.0 / (900.0 * d.sqrt())),
        res1: rq(4.0),
        res2: rq(4.0),
    };
    // A numerics v1 encoder: models registered under v1 keep being verified.
    let enc = Encoder {
        numerics: 1,
        cfg,
        word: embedding(g, cfg.vocab, h),
        pos: embedding(g, cfg.max_positions, h),
        typ: embedding(g, 1, h),
        emb_ln: layer_norm(g, h),
        blocks: vec![block],
        vocab_text: None,
        tokenizer_json: None,
    };
    Model::Encoder(enc).to_file().unwrap()
}

/// A model as both the registry and the off-chain workers see it.
struct Net {
    file: ModelFile,
    model: Model,
    id: ModelId,
}

impl Net {
    fn new(file: ModelFile) -> Self {
        let model = Model::from_file(&file).unwrap();
        let id = H256(file.content_hash());
        Net { file, model, id }
    }

    fn layers(&self) -> usize {
        self.model.layer_count()
    }

    /// Registers the model in the models pallet (owner `OWNER`, royalty `ROYALTY`).
    fn register(&self, name: &[u8]) {
        let bytes = self.file.to_bytes();
        let kind = if self.file.kind == KIND_MLP {
            ModelKind::Mlp
        } else {
            ModelKind::Encoder
        };
        Models::register(
            &acc(OWNER),
            &self.id,
            &ModelParams {
                file_root: H256(io::hashing::blake3_256(&bytes)),
                size: bytes.len() as u64,
                name: name.to_vec(),
                version: Default::default(),
                kind,
                shape: self.file.params.to_vec(),
                numerics_version: 1,
                royalty: ROYALTY,
            },
        )
        .unwrap();
    }

    fn trace(&self, input: &Activation) -> Trace {
        run_model(&self.model, input, &RefGemm).unwrap()
    }

    /// An honest provider's commitment and output.
    fn honest(&self, input: &Activation) -> (Vec<H256>, Activation) {
        let t = self.trace(input);
        (
            t.commitment.leaves.iter().map(|h| H256(*h)).collect(),
            t.outputs.last().unwrap().clone(),
        )
    }

    /// A cheating provider's: layer `layer`'s output is wrong and every later layer is run
    /// on it, so the commitment is consistent with the output it commits.
    fn cheat(&self, input: &Activation, layer: usize) -> (Vec<H256>, Activation) {
        let mut outs = self.trace(input).outputs;
        corrupt(&mut outs[layer]);
        for l in layer + 1..outs.len() {
            outs[l] = run_layer(&self.model, l, &outs[l - 1], &RefGemm).unwrap();
        }
        let mut leaves = vec![H256(activation_hash(input))];
        leaves.extend(outs.iter().map(|o| H256(activation_hash(o))));
        (leaves, outs.last().unwrap().clone())
    }

    /// The input of layer `layer` on job input `input`.
    fn layer_input(&self, input: &Activation, layer: usize) -> Activation {
        if layer == 0 {
            input.clone()
        } else {
            self.trace(input).outputs[layer - 1].clone()
        }
    }

    fn weights(&self, layer: usize) -> LayerWeights {
        LayerWeights::open(&self.file, layer).unwrap()
    }

    /// The honest challenge of a job whose provider committed `provider_leaves`.
    fn challenge_of(&self, id: JobId, provider_leaves: &[H256], input: &Activation) -> Call {
        let (honest, _) = self.honest(input);
        let layer = provider_leaves
            .iter()
            .zip(&honest)
            .skip(1)
            .position(|(a, b)| a != b)
            .expect("the provider was honest");
        Call::Challenge {
            job: id,
            commitment: honest,
            layer: layer as u32,
            input: self.layer_input(input, layer),
            weights: self.weights(layer),
        }
    }
}

fn corrupt(a: &mut Activation) {
    match &mut a.data {
        ActData::I8(v) => v[0] = if v[0] > 0 { v[0] - 1 } else { v[0] + 1 },
        ActData::I16(v) => v[0] = if v[0] > 0 { v[0] - 1 } else { v[0] + 1 },
        ActData::Tokens(v) => v[0] ^= 1,
    }
}

/// An MLP input of `n` rows of width 4.
fn rows(n: usize, seed: i8) -> Activation {
    let rows: Vec<Vec<i8>> = (0..n)
        .map(|r| {
            (0..4)
                .map(|c| ((r * 4 + c) as i8).wrapping_mul(37).wrapping_add(seed))
                .collect()
        })
        .collect();
    Activation::rows_i8(&rows)
}

// ---------------------------------------------------------------- chain

fn offer() -> Resources {
    Resources {
        gpu: GpuClass::H100,
        gpu_count: 1,
        vram_gib: 80,
        region: b"eu".to_vec(),
    }
}

/// Registers `who` as a compute provider serving `models`, with prices `PRICE`.
fn provider(who: u8, models: &[ModelId], collateral: Balance) {
    io::storage::with_transaction(|| {
        Compute::register(&acc(who), offer(), models.to_vec(), 10, collateral)
    })
    .unwrap();
    for m in models {
        call(
            who,
            Call::SetPrice {
                model: *m,
                price: PRICE.into(),
            },
        )
        .unwrap();
    }
}

fn now() -> BlockNumber {
    pallet_system::storage::Number::get_or_default()
}

fn set_block(n: BlockNumber) {
    pallet_system::storage::Number::put(&n);
}

fn beacon(n: BlockNumber, seed: u64) -> H256 {
    let mut b = b"test/beacon".to_vec();
    b.extend_from_slice(&n.to_le_bytes());
    b.extend_from_slice(&seed.to_le_bytes());
    H256(io::hashing::blake3_256(&b))
}

/// Opens block `n` as the runtime does: beacon first (unless a test wrote one), then the
/// hooks.
fn start_block(n: BlockNumber) {
    set_block(n);
    if History::get(&n).is_none() {
        History::insert(&n, &beacon(n, 0));
    }
    Compute::on_initialize();
    Inference::on_initialize(n);
}

/// Ends the open block and opens the next.
fn next_block() {
    let b = now();
    Inference::on_finalize(b);
    Compute::on_finalize(b);
    start_block(b + 1);
}

/// Runs until block `n` is open.
fn run_to(n: BlockNumber) {
    while now() < n {
        next_block();
    }
}

/// Bare chain: funded accounts, genesis, block 1 open.
fn run_bare<R>(f: impl FnOnce() -> R) -> R {
    let state = InMemoryState::default();
    let mut overlay = OverlayedChanges::new();
    io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
        Bal::build_genesis(&pallet_balances::GenesisConfig {
            balances: (1..=ACCOUNTS).map(|i| (acc(i), FUNDS)).collect(),
        })
        .unwrap();
        Inference::build_genesis(&GenesisConfig::default());
        History::insert(&0, &beacon(0, 0));
        start_block(1);
        f()
    })
}

/// The tiny MLP registered; providers 1 and 2 serve it at `PRICE` with `COLLATERAL`.
fn run<R>(f: impl FnOnce(&Net) -> R) -> R {
    run_bare(|| {
        let net = Net::new(tiny_mlp(0));
        net.register(b"tiny-mlp");
        provider(1, &[net.id], COLLATERAL);
        provider(2, &[net.id], COLLATERAL);
        let r = f(&net);
        assert_books();
        r
    })
}

/// Dispatches as the runtime does: a failed call changes nothing.
fn call(who: u8, c: Call) -> Result<(), &'static str> {
    call_as(acc(who), c)
}

fn call_as(who: AccountId, c: Call) -> Result<(), &'static str> {
    io::storage::with_transaction(|| Inference::dispatch(Origin::Signed(who), c)).map_err(|e| {
        assert_eq!(e.pallet, 8, "{e:?}");
        let name: &'static str = Box::leak(e.message.into_boxed_str());
        name
    })
}

fn events() -> Vec<Event> {
    pallet_system::Pallet::<Test>::events()
        .into_iter()
        .filter(|r| r.pallet == 8)
        .map(|r| Event::decode(&mut &r.event[..]).unwrap())
        .collect()
}

fn job(id: JobId) -> Job {
    Jobs::get(&id).unwrap()
}

fn submit_to(model: ModelId, client: u8, provider: Option<u8>, input: &Activation) -> JobId {
    let id = NextJobId::get_or_default();
    call(
        client,
        Call::Submit {
            model,
            input: input.clone(),
            max_fee: PRICE.into(),
            provider: provider.map(acc),
        },
    )
    .unwrap();
    id
}

fn submit(net: &Net, client: u8, provider: Option<u8>, input: &Activation) -> JobId {
    submit_to(net.id, client, provider, input)
}

fn commit_with(id: JobId, (commitment, output): (Vec<H256>, Activation)) {
    let p = job(id).provider;
    call_as(
        p,
        Call::Commit {
            job: id,
            commitment,
            output,
        },
    )
    .unwrap();
}

fn commit_honest(net: &Net, id: JobId) {
    let input = job(id).input;
    commit_with(id, net.honest(&input));
}

/// What the beacon should decide for a job at its draw.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Draw {
    Skip,
    One,
    Two,
}

/// Writes a beacon for block `n` under which each job in `want` is drawn as asked (the
/// draw happens when block `n` opens, for jobs committed in block `n - 1`).
fn steer(n: BlockNumber, want: &[(JobId, Draw)]) {
    let (q, d) = (Inference::sample_per_mill(), Inference::double_per_mill());
    for seed in 1..100_000u64 {
        History::insert(&n, &beacon(n, seed));
        let ok = want.iter().all(|(id, draw)| {
            let mut purpose = b"menara/inference/sample".to_vec();
            purpose.extend_from_slice(&id.to_le_bytes());
            let r = Randomness::random_at(n, &purpose).unwrap();
            let sampled = u32_at(&r, 0) % 1000 < q;
            let two = u32_at(&r, 4) % 1000 < d;
            match draw {
                Draw::Skip => !sampled,
                Draw::One => sampled && !two,
                Draw::Two => sampled && two,
            }
        });
        if ok {
            return;
        }
    }
    panic!("no beacon gives {want:?}");
}

/// Commits `id` honestly in the open block and steers its draw.
fn commit_and_draw(net: &Net, id: JobId, draw: Draw) {
    commit_honest(net, id);
    steer(now() + 1, &[(id, draw)]);
    next_block();
}

fn verifiers_of(id: JobId) -> Vec<AccountId> {
    job(id).checks.iter().map(|c| c.verifier).collect()
}

fn index_of(a: AccountId) -> u8 {
    a.0[0]
}

fn register_verifier(who: u8, bond: Balance) {
    call(who, Call::RegisterVerifier { bond: bond.into() }).unwrap();
}

fn burned() -> Balance {
    TotalBurned::get_or_default() + pallet_compute::storage::TotalBurned::get_or_default()
}

/// Everything a refused call must leave alone: balances, custody, jobs, verifiers.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Snapshot {
    free: Vec<(AccountId, Balance)>,
    issuance: Balance,
    held: [Balance; 3],
    burned: Balance,
    pool: Balance,
    pending: Vec<(AccountId, Balance)>,
    collateral: Vec<(AccountId, Balance)>,
    verifiers: Vec<(AccountId, Verifier)>,
    jobs: Vec<(JobId, Job)>,
    royalties: Vec<(ModelId, Balance)>,
}

fn snapshot() -> Snapshot {
    fn sorted<K: Ord, V>(mut v: Vec<(K, V)>) -> Vec<(K, V)> {
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
    Snapshot {
        free: sorted(
            pallet_balances::storage::Account::iter()
                .map(|(a, d)| (a, d.free))
                .collect(),
        ),
        issuance: Bal::total_issuance(),
        held: [
            Compute::total_held(),
            Models::total_held(),
            Inference::total_held(),
        ],
        burned: burned(),
        pool: VerificationPool::get_or_default(),
        pending: sorted(Pending::iter().collect()),
        collateral: sorted(
            pallet_compute::storage::Providers::iter()
                .map(|(a, p)| (a, p.collateral))
                .collect(),
        ),
        verifiers: sorted(Verifiers::iter().collect()),
        jobs: sorted(Jobs::iter().collect()),
        royalties: sorted(
            pallet_models::storage::Models::iter()
                .map(|(id, m)| (id, m.royalties_unclaimed))
                .collect(),
        ),
    }
}

/// `c` by `who` fails with `err` and nothing moves.
#[track_caller]
fn refused(who: u8, c: Call, err: &str) {
    let before = snapshot();
    assert_eq!(call(who, c), Err(err));
    assert_eq!(snapshot(), before, "{err} moved something");
}

/// Free balances plus what every pallet holds equal the issuance, which fell by exactly
/// what was burned; and each pallet's held total is the sum of its parts.
fn assert_books() {
    let free: Balance = pallet_balances::storage::Account::iter()
        .map(|(_, d)| d.free)
        .sum();
    assert_eq!(
        free + Compute::total_held() + Models::total_held() + Inference::total_held(),
        Bal::total_issuance()
    );
    assert_eq!(Bal::total_issuance() + burned(), ISSUANCE);
    // This pallet: escrows of open jobs, bonds, the pool, pending payouts.
    let mut held = VerificationPool::get_or_default();
    let mut unsettled: Vec<(AccountId, Balance)> = Vec::new();
    for (id, j) in Jobs::iter() {
        if !j.state.is_closed() {
            held += j.fee;
            match unsettled.iter_mut().find(|(p, _)| *p == j.provider) {
                Some((_, u)) => *u += j.fee,
                None => unsettled.push((j.provider, j.fee)),
            }
        }
        for c in &j.checks {
            let open = VerifierJobs::get_or_default(&c.verifier).contains(&id);
            assert_eq!(open, c.answer == CheckAnswer::Waiting, "job {id} {c:?}");
            assert!(c.answer != CheckAnswer::Waiting || !j.state.is_closed());
        }
    }
    for (v, list) in VerifierJobs::iter() {
        for id in list {
            assert!(job(id)
                .checks
                .iter()
                .any(|c| c.verifier == v && c.answer == CheckAnswer::Waiting));
        }
    }
    for (_, v) in Verifiers::iter() {
        held += v.bond;
    }
    for (_, p) in Pending::iter() {
        held += p;
    }
    assert_eq!(held, Inference::total_held());
    let mut stored: Vec<(AccountId, Balance)> = Unsettled::iter().collect();
    stored.sort_by_key(|a| a.0);
    unsettled.sort_by_key(|a| a.0);
    assert_eq!(stored, unsettled);
    // The compute pallet (no leases here): collateral, earnings, pending payouts.
    let mut c = 0;
    for (_, p) in pallet_compute::storage::Providers::iter() {
        c += p.collateral + p.earnings;
    }
    for (_, p) in pallet_compute::storage::Pending::iter() {
        c += p;
    }
    assert_eq!(c, Compute::total_held());
    // The models pallet: deposits and unclaimed royalties.
    let m: Balance = pallet_models::storage::Models::iter()
        .map(|(_, i)| i.deposit + i.royalties_unclaimed)
        .sum();
    assert_eq!(m, Models::total_held());
    // Active verifiers: a dense array and its inverse.
    let count = ActiveVerifierCount::get_or_default();
    for slot in 0..count {
        let v = ActiveVerifier::get(&slot).unwrap();
        assert_eq!(VerifierSlot::get(&v), Some(slot));
        assert_eq!(Verifiers::get(&v).unwrap().status, VerifierStatus::Active);
    }
    assert_eq!(VerifierSlot::iter().count() as u32, count);
}

// ---------------------------------------------------------------- prices

#[test]
fn prices_are_set_by_serving_providers_only_and_zero_withdraws() {
    run(|net| {
        let other = Net::new(tiny_mlp(1));
        other.register(b"other-mlp");
        let set = |model: ModelId, price: Balance| Call::SetPrice {
            model,
            price: price.into(),
        };
        // Not a provider; a provider that did not declare the model; nothing to withdraw.
        refused(3, set(net.id, 10), "NotServing");
        refused(1, set(other.id, 10), "NotServing");
        refused(3, set(net.id, 0), "NotServing");
        call(1, set(net.id, 1_200)).unwrap();
        assert!(events().contains(&Event::PriceSet {
            provider: acc(1),
            model: net.id,
            price: 1_200
        }));
        let prices = Inference::prices(&net.id);
        assert_eq!(prices.len(), 2);
        assert_eq!(
            prices[0],
            PriceView {
                provider: acc(1),
                price: 1_200,
                unsettled: 0,
                capacity: Inference::capacity(COLLATERAL),
            }
        );
        // Zero withdraws the price: no more jobs for it.
        call(1, set(net.id, 0)).unwrap();
        assert_eq!(ModelProviders::get(&net.id), Some(vec![acc(2)]));
        refused(
            6,
            Call::Submit {
                model: net.id,
                input: rows(1, 0),
                max_fee: PRICE.into(),
                provider: Some(acc(1)),
            },
            "ProviderUnavailable",
        );
        call(2, set(net.id, 0)).unwrap();
        assert!(ModelProviders::get(&net.id).is_none());
        refused(
            6,
            Call::Submit {
                model: net.id,
                input: rows(1, 0),
                max_fee: PRICE.into(),
                provider: None,
            },
            "NoProvider",
        );
        // A leaving provider cannot set a price, and its old price no longer serves.
        call(2, set(net.id, PRICE)).unwrap();
        io::storage::with_transaction(|| Compute::leave(&acc(2))).unwrap();
        refused(2, set(net.id, PRICE), "NotServing");
        refused(
            6,
            Call::Submit {
                model: net.id,
                input: rows(1, 0),
                max_fee: PRICE.into(),
                provider: Some(acc(2)),
            },
            "ProviderUnavailable",
        );
    });
}

#[test]
fn at_most_64_providers_price_a_model() {
    run(|net| {
        // Providers 1 and 2 already have a price; 62 more fit.
        for i in 0..63u8 {
            let who = AccountId([100 + i; 32]);
            Bal::transfer(&acc(7), &who, 100_000).unwrap();
            io::storage::with_transaction(|| {
                Compute::register(&who, offer(), vec![net.id], 10, 4_000)
            })
            .unwrap();
            let r = call_as(
                who,
                Call::SetPrice {
                    model: net.id,
                    price: PRICE.into(),
                },
            );
            if i < 62 {
                r.unwrap();
            } else {
                assert_eq!(r, Err("TooMany"));
            }
        }
        assert_eq!(
            ModelProviders::get(&net.id).unwrap().len(),
            MAX_PROVIDERS_PER_MODEL
        );
        // Changing an existing price still works.
        call(
            1,
            Call::SetPrice {
                model: net.id,
                price: 900.into(),
            },
        )
        .unwrap();
    });
}

// ---------------------------------------------------------------- submit

#[test]
fn submit_to_a_named_provider_escrows_its_price() {
    run(|net| {
        let x = rows(2, 1);
        let id = submit(net, 6, Some(1), &x);
        assert_eq!(id, 0);
        assert_eq!(free(6), FUNDS - PRICE);
        assert_eq!(Inference::total_held(), PRICE);
        let j = job(id);
        assert_eq!(
            (j.client, j.provider, j.model, j.fee),
            (acc(6), acc(1), net.id, PRICE)
        );
        assert_eq!((j.royalty, j.verification_fee), (ROYALTY, VERIFY_FEE));
        assert_eq!(
            (j.submitted_at, j.commit_by, j.state),
            (1, 6, JobState::Pending)
        );
        assert_eq!(j.input, x);
        assert!(events().contains(&Event::JobSubmitted {
            job: id,
            client: acc(6),
            provider: acc(1),
            model: net.id,
            fee: PRICE
        }));
        assert_eq!(Unsettled::get(&acc(1)), Some(PRICE));
        assert_eq!(Inference::provider_jobs(&acc(1))[0].id, id);
        assert_eq!(Inference::jobs_of(&acc(6), 10)[0].id, id);
        assert_eq!(Inference::jobs_of(&acc(1), 10)[0].id, id);
        assert!(Inference::jobs_of(&acc(2), 10).is_empty());
        assert_eq!(CommitDue::get(&6), Some(vec![id]));
        assert_eq!(Inference::summary().jobs, 1);
        let sub = |max_fee: Balance, provider: u8| Call::Submit {
            model: net.id,
            input: x.clone(),
            max_fee: max_fee.into(),
            provider: Some(acc(provider)),
        };
        refused(6, sub(PRICE - 1, 1), "PriceAboveMaxFee");
        refused(6, sub(PRICE, 3), "ProviderUnavailable");
        // A client that cannot pay.
        let poor = AccountId([20; 32]);
        Bal::transfer(&acc(7), &poor, 500).unwrap();
        let before = snapshot();
        assert_eq!(call_as(poor, sub(PRICE, 1)), Err("InsufficientBalance"));
        assert_eq!(snapshot(), before);
        // A client that would keep dust.
        Bal::transfer(&acc(7), &poor, 505).unwrap();
        let before = snapshot();
        assert_eq!(call_as(poor, sub(PRICE, 1)), Err("WouldBeDust"));
        assert_eq!(snapshot(), before);
        // The royalty and the verification fee must fit in the price.
        Models::set_royalty(&acc(OWNER), &net.id, PRICE - VERIFY_FEE + 1).unwrap();
        refused(6, sub(PRICE, 1), "PriceBelowCosts");
        refused(
            6,
            Call::Submit {
                model: net.id,
                input: x.clone(),
                max_fee: PRICE.into(),
                provider: None,
            },
            "NoProvider",
        );
        Models::set_royalty(&acc(OWNER), &net.id, PRICE - VERIFY_FEE).unwrap();
        call(6, sub(PRICE, 1)).unwrap();
        assert_eq!(job(1).royalty, PRICE - VERIFY_FEE);
        // The earlier job keeps the royalty it was submitted with.
        assert_eq!(job(0).royalty, ROYALTY);
    });
}

/// The provider `submit` draws for job `id` of `model` in the open block among
/// `providers` (all with room), computed as the chain does: weighted by collateral, from
/// the beacon of the block before.
fn expected_draw(model: &ModelId, id: JobId, providers: &[u8]) -> u8 {
    let mut purpose = b"menara/inference/assign".to_vec();
    purpose.extend_from_slice(&id.to_le_bytes());
    let r = Randomness::random_at(now() - 1, &purpose).unwrap();
    let candidates: Vec<(u8, Balance)> = providers
        .iter()
        .map(|p| (*p, Compute::serving_collateral(&acc(*p), model).unwrap()))
        .collect();
    let total: Balance = candidates.iter().map(|(_, c)| c).sum();
    let mut x = u128::from_le_bytes(r[..16].try_into().unwrap()) % total;
    for (p, c) in candidates {
        if x < c {
            return p;
        }
        x -= c;
    }
    unreachable!()
}

#[test]
fn the_chain_draws_a_provider_weighted_by_collateral_never_the_client() {
    run_bare(|| {
        let net = Net::new(tiny_mlp(0));
        net.register(b"tiny-mlp");
        provider(1, &[net.id], 600_000);
        provider(2, &[net.id], 1_800_000);
        let mut counts = [0u32; 3];
        for k in 0..80u64 {
            let expected = expected_draw(&net.id, NextJobId::get_or_default(), &[1, 2]);
            let id = submit(&net, 6, None, &rows(1, k as i8));
            let p = index_of(job(id).provider);
            assert_eq!(p, expected, "job {id} at block {}", now());
            counts[p as usize] += 1;
            if k % 4 == 3 {
                next_block();
            }
        }
        // Three quarters of the collateral, about three quarters of the jobs.
        assert!(counts[1] > 5 && counts[2] > 40, "{counts:?}");
        assert!(counts[2] > 2 * counts[1], "{counts:?}");
        // A provider submitting a job never draws itself.
        for k in 0..10 {
            let id = submit(&net, 1, None, &rows(1, k));
            assert_eq!(job(id).provider, acc(2));
        }
        // Nobody within the maximum fee.
        refused(
            6,
            Call::Submit {
                model: net.id,
                input: rows(1, 0),
                max_fee: (PRICE - 1).into(),
                provider: None,
            },
            "NoProvider",
        );
        assert_books();
    });
}

#[test]
fn a_provider_holds_no_more_than_its_collateral_secures() {
    run(|net| {
        // q = 1/4, S = collateral / 2 less the challenger's fifth:
        // capacity = S q / (1 - q) = 24,000 / 3.
        assert_eq!(Inference::capacity(COLLATERAL), 8_000);
        assert_eq!(Inference::capacity(0), 0);
        SamplePerMill::put(&1000);
        assert_eq!(Inference::capacity(1), Balance::MAX);
        // Nothing sampled: nothing secured.
        SamplePerMill::put(&0);
        assert_eq!(Inference::capacity(COLLATERAL), 0);
        SamplePerMill::put(&250);
        let ids: Vec<JobId> = (0..8)
            .map(|k| submit(net, 6, Some(1), &rows(1, k)))
            .collect();
        assert_eq!(Unsettled::get(&acc(1)), Some(8_000));
        let sub = |provider: Option<u8>| Call::Submit {
            model: net.id,
            input: rows(1, 0),
            max_fee: PRICE.into(),
            provider: provider.map(acc),
        };
        refused(6, sub(Some(1)), "ProviderAtCapacity");
        // The draw skips the full provider.
        for _ in 0..5 {
            let id = NextJobId::get_or_default();
            call(6, sub(None)).unwrap();
            assert_eq!(job(id).provider, acc(2));
        }
        // Room again once its jobs close.
        for id in &ids {
            commit_honest(net, *id);
        }
        let want: Vec<(JobId, Draw)> = ids.iter().map(|id| (*id, Draw::Skip)).collect();
        steer(now() + 1, &want);
        run_to(job(ids[0]).window_ends);
        refused(6, sub(Some(1)), "ProviderAtCapacity");
        next_block();
        for id in &ids {
            assert_eq!(job(*id).state, JobState::Final);
        }
        call(6, sub(Some(1))).unwrap();
        assert_eq!(Unsettled::get(&acc(1)), Some(PRICE));
    });
}

#[test]
fn submit_refuses_unknown_deprecated_and_malformed_inputs() {
    run(|net| {
        let sub = |model: ModelId, input: Activation| Call::Submit {
            model,
            input,
            max_fee: PRICE.into(),
            provider: Some(acc(1)),
        };
        refused(6, sub(H256([42; 32]), rows(1, 0)), "UnknownModel");
        // At most 16 rows.
        refused(6, sub(net.id, rows(17, 0)), "InputTooLong");
        // Wrong width, kind, or a shape that does not match the data.
        refused(
            6,
            sub(net.id, Activation::rows_i8(&[vec![1, 2, 3, 4, 5]])),
            "BadInput",
        );
        refused(
            6,
            sub(net.id, Activation::tokens(&[vec![1, 2]])),
            "BadInput",
        );
        let mut a = rows(2, 0);
        a.lens = vec![3];
        refused(6, sub(net.id, a), "BadInput");
        let mut a = rows(2, 0);
        a.lens = vec![];
        refused(6, sub(net.id, a), "BadInput");
        let a = Activation {
            lens: vec![1],
            cols: 4,
            data: ActData::I16(vec![1, 2, 3, 4]),
        };
        refused(6, sub(net.id, a), "BadInput");
        // Sequence lengths whose product with the width overflows.
        let a = Activation {
            lens: vec![u32::MAX, u32::MAX],
            cols: u32::MAX,
            data: ActData::I8(vec![]),
        };
        refused(6, sub(net.id, a), "BadInput");
        let a = Activation {
            lens: vec![1 << 31, 1 << 31],
            cols: 4,
            data: ActData::I8(vec![0; 4]),
        };
        refused(6, sub(net.id, a), "BadInput");
        // More than MAX_INPUT_BYTES.
        refused(6, sub(net.id, rows(300, 0)), "InputTooLarge");
        // A registry header gpu-verify does not run.
        let bogus = H256([77; 32]);
        Models::register(
            &acc(OWNER),
            &bogus,
            &ModelParams {
                file_root: H256([1; 32]),
                size: 10,
                name: b"bogus".to_vec(),
                version: Default::default(),
                kind: ModelKind::Mlp,
                shape: vec![3, 4],
                numerics_version: 1,
                royalty: 0,
            },
        )
        .unwrap();
        refused(6, sub(bogus, rows(1, 0)), "UnsupportedModel");
        // Deprecated: no new jobs.
        Models::deprecate(&acc(OWNER), &net.id).unwrap();
        refused(6, sub(net.id, rows(1, 0)), "DeprecatedModel");
        assert_eq!(free(6), FUNDS);
    });
}

// ---------------------------------------------------------------- commit

#[test]
fn commit_checks_the_leaf_count_the_input_and_the_output() {
    run(|net| {
        let x = rows(2, 3);
        let id = submit(net, 6, Some(1), &x);
        let (c, out) = net.honest(&x);
        assert_eq!(c.len(), 4);
        let commit = |commitment: Vec<H256>, output: Activation| Call::Commit {
            job: id,
            commitment,
            output,
        };
        refused(2, commit(c.clone(), out.clone()), "NotAssigned");
        refused(6, commit(c.clone(), out.clone()), "NotAssigned");
        refused(
            1,
            Call::Commit {
                job: 9,
                commitment: c.clone(),
                output: out.clone(),
            },
            "UnknownJob",
        );
        refused(
            1,
            commit(c[..3].to_vec(), out.clone()),
            "BadCommitmentLength",
        );
        let mut long = c.clone();
        long.push(c[3]);
        refused(1, commit(long, out.clone()), "BadCommitmentLength");
        refused(1, commit(vec![], out.clone()), "BadCommitmentLength");
        let mut w = c.clone();
        w[0] = H256([1; 32]);
        refused(1, commit(w, out.clone()), "WrongInputHash");
        // The output must hash to the last leaf, and be well formed.
        let mut o = out.clone();
        corrupt(&mut o);
        refused(1, commit(c.clone(), o), "OutputMismatch");
        for bad in [
            Activation {
                lens: vec![],
                cols: 3,
                data: ActData::I8(vec![]),
            },
            Activation {
                lens: vec![u32::MAX, u32::MAX],
                cols: u32::MAX,
                data: ActData::I8(vec![]),
            },
        ] {
            let mut w = c.clone();
            w[3] = H256(activation_hash(&bad));
            refused(1, commit(w, bad), "OutputMismatch");
        }
        let huge = Activation {
            lens: vec![17_000],
            cols: 4,
            data: ActData::I8(vec![0; 68_000]),
        };
        let mut w = c.clone();
        w[3] = H256(activation_hash(&huge));
        refused(1, commit(w, huge), "OutputTooLarge");
        call(1, commit(c.clone(), out.clone())).unwrap();
        refused(1, commit(c.clone(), out.clone()), "NotPending");
        let j = job(id);
        assert_eq!(j.state, JobState::Committed);
        assert_eq!(j.commitment, c);
        assert_eq!(j.output, Some(out));
        let leaves: Vec<[u8; 32]> = c.iter().map(|h| h.0).collect();
        assert_eq!(j.root, H256(merkle_root(&leaves)));
        assert_eq!((j.committed_at, j.window_ends), (1, 11));
        assert!(events().contains(&Event::JobCommitted {
            job: id,
            root: j.root
        }));
        assert!(Inference::provider_jobs(&acc(1)).is_empty());
        assert_eq!(DrawDue::get(&2), Some(vec![id]));
        assert_eq!(WindowEnds::get(&11), Some(vec![id]));
        // No money moves at commitment.
        assert_eq!(Inference::total_held(), PRICE);
    });
}

// ---------------------------------------------------------------- the happy paths

#[test]
fn an_unsampled_job_is_final_when_its_window_closes_and_pays_everyone() {
    run(|net| {
        let x = rows(2, 1);
        let id = submit(net, 6, Some(1), &x);
        next_block();
        commit_and_draw(net, id, Draw::Skip);
        assert_eq!(job(id).state, JobState::Committed);
        assert!(job(id).checks.is_empty());
        let window_ends = job(id).window_ends;
        assert_eq!(window_ends, 12);
        let provider_before = free(1);
        run_to(window_ends);
        assert_eq!(job(id).state, JobState::Committed);
        next_block();
        let j = job(id);
        assert_eq!(j.state, JobState::Final);
        let paid = PRICE - ROYALTY - VERIFY_FEE;
        assert_eq!(
            j.outcome,
            Some(Outcome::Paid {
                provider: paid,
                royalty: ROYALTY,
                verification_fee: VERIFY_FEE,
                verifier_reward: 0,
            })
        );
        assert!(events().contains(&Event::JobFinal {
            job: id,
            provider_paid: paid,
            royalty: ROYALTY,
            verification_fee: VERIFY_FEE
        }));
        assert_eq!(free(1), provider_before + paid);
        assert_eq!(free(6), FUNDS - PRICE);
        // The royalty is in the models pallet's custody, claimable by the share holders.
        assert_eq!(Models::claimable(&net.id, &acc(OWNER)), ROYALTY);
        let info = Models::model(&net.id).unwrap();
        assert_eq!(
            (info.royalties_paid, info.royalties_unclaimed),
            (ROYALTY, ROYALTY)
        );
        assert_eq!(VerificationPool::get_or_default(), VERIFY_FEE);
        assert_eq!(Inference::total_held(), VERIFY_FEE);
        assert!(Unsettled::get(&acc(1)).is_none());
        assert!(WindowEnds::get(&window_ends).is_none());
        // The owner claims its royalty through the models pallet.
        let before = free(OWNER);
        Models::claim_royalties(&acc(OWNER), &net.id).unwrap();
        assert_eq!(free(OWNER), before + ROYALTY);
        assert_books();
    });
}

/// Runs `n` jobs of client 7 with provider 2 to the end, unsampled: fills the pool.
fn fill_pool(net: &Net, n: u8) {
    let ids: Vec<JobId> = (0..n)
        .map(|k| submit(net, 7, Some(2), &rows(1, k as i8)))
        .collect();
    for id in &ids {
        commit_honest(net, *id);
    }
    let want: Vec<(JobId, Draw)> = ids.iter().map(|id| (*id, Draw::Skip)).collect();
    steer(now() + 1, &want);
    let end = job(ids[0]).window_ends;
    run_to(end + 1);
    for id in ids {
        assert_eq!(job(id).state, JobState::Final);
    }
}

#[test]
fn a_sampled_job_goes_to_verifiers_that_attest_and_are_paid_from_the_pool() {
    run(|net| {
        // The provider and the client are verifiers too: never drawn for their own job.
        for v in [1, 3, 4, 5, 6] {
            register_verifier(v, BOND);
        }
        fill_pool(net, 4);
        assert_eq!(VerificationPool::get_or_default(), 4 * VERIFY_FEE);
        let x = rows(3, 5);
        let id = submit(net, 6, Some(1), &x);
        commit_and_draw(net, id, Draw::Two);
        let j = job(id);
        assert_eq!(j.state, JobState::Sampled);
        let vs = verifiers_of(id);
        assert_eq!(vs.len(), 2);
        assert_ne!(vs[0], vs[1]);
        for v in &vs {
            assert!(![acc(1), acc(6)].contains(v));
            assert_eq!(Inference::verifier_jobs(v)[0].id, id);
            assert_eq!(Inference::verifier(v).unwrap().open_checks, vec![id]);
        }
        assert!(events().contains(&Event::JobSampled {
            job: id,
            verifiers: vs.clone()
        }));
        let (v0, v1) = (index_of(vs[0]), index_of(vs[1]));
        let idle = [3, 4, 5]
            .into_iter()
            .find(|v| ![v0, v1].contains(v))
            .unwrap();
        let attest = |root: H256| Call::Attest { job: id, root };
        refused(v0, attest(H256([9; 32])), "RootMismatch");
        refused(idle, attest(j.root), "NotAssignedVerifier");
        refused(7, attest(j.root), "NotAssignedVerifier");
        refused(1, attest(j.root), "NotAssignedVerifier");
        refused(
            v0,
            Call::Attest {
                job: 99,
                root: j.root,
            },
            "UnknownJob",
        );
        // The root it computed itself.
        let (c, _) = net.honest(&x);
        let leaves: Vec<[u8; 32]> = c.iter().map(|h| h.0).collect();
        call(v0, attest(H256(merkle_root(&leaves)))).unwrap();
        assert_eq!(job(id).state, JobState::Sampled);
        assert!(events().contains(&Event::Attested {
            job: id,
            verifier: vs[0]
        }));
        refused(v0, attest(j.root), "NotAssignedVerifier");
        call(v1, attest(j.root)).unwrap();
        assert_eq!(job(id).state, JobState::Verified);
        assert!(VerifierJobs::get(&vs[0]).is_none() && VerifierJobs::get(&vs[1]).is_none());
        refused(v1, attest(j.root), "NotAssignedVerifier");
        // The window closes: final; the verifiers share VERIFY_FEE / q = 200.
        let before = (free(v0), free(v1), free(1));
        run_to(j.window_ends + 1);
        let paid = PRICE - ROYALTY - VERIFY_FEE;
        assert_eq!(
            job(id).outcome,
            Some(Outcome::Paid {
                provider: paid,
                royalty: ROYALTY,
                verification_fee: VERIFY_FEE,
                verifier_reward: 200,
            })
        );
        assert_eq!(
            (free(v0), free(v1), free(1)),
            (before.0 + 100, before.1 + 100, before.2 + paid)
        );
        for v in &vs {
            let r = Inference::verifier(v).unwrap().verifier;
            assert_eq!((r.attested, r.earned, r.bond), (1, 100, BOND));
            assert!(events().contains(&Event::VerifierRewarded {
                verifier: *v,
                job: id,
                amount: 100
            }));
        }
        assert_eq!(VerificationPool::get_or_default(), 5 * VERIFY_FEE - 200);
        assert_eq!(Models::claimable(&net.id, &acc(OWNER)), 5 * ROYALTY);
    });
}

#[test]
fn draws_never_give_a_job_to_its_provider_or_client() {
    run(|net| {
        SamplePerMill::put(&1000);
        DoublePerMill::put(&1000);
        for v in [1, 3, 4, 6] {
            register_verifier(v, BOND);
        }
        for k in 0..24 {
            let (client, p) = if k % 2 == 0 { (6, 1) } else { (3, 2) };
            let id = submit(net, client, Some(p), &rows(1, k));
            commit_honest(net, id);
            next_block();
            let vs = verifiers_of(id);
            assert_eq!(job(id).state, JobState::Sampled);
            // Two wanted; the eligible ones are the active verifiers but these two.
            assert_eq!(vs.len(), 2, "{vs:?}");
            assert_ne!(vs[0], vs[1]);
            assert!(
                !vs.contains(&acc(p)) && !vs.contains(&acc(client)),
                "{vs:?}"
            );
        }
        // With a single eligible verifier, one check even when two are wanted.
        call(3, Call::LeaveVerifiers).unwrap();
        let id = submit(net, 6, Some(1), &rows(1, 0));
        commit_honest(net, id);
        next_block();
        assert_eq!(verifiers_of(id), vec![acc(4)]);
        // None eligible: the job stays committed, unsampled.
        call(4, Call::LeaveVerifiers).unwrap();
        let id = submit(net, 6, Some(1), &rows(1, 0));
        commit_honest(net, id);
        next_block();
        assert_eq!(job(id).state, JobState::Committed);
        assert!(job(id).checks.is_empty());
    });
}

#[test]
fn a_verifier_that_does_not_answer_loses_part_of_its_bond() {
    run(|net| {
        register_verifier(3, BOND);
        register_verifier(4, BOND);
        let id = submit(net, 6, Some(1), &rows(2, 2));
        commit_and_draw(net, id, Draw::Two);
        let root = job(id).root;
        call(3, Call::Attest { job: id, root }).unwrap();
        let burned_before = TotalBurned::get_or_default();
        let provider_before = free(1);
        run_to(job(id).window_ends + 1);
        let r = Inference::verifier(&acc(4)).unwrap();
        assert_eq!(
            (r.verifier.bond, r.verifier.slashed, r.verifier.missed),
            (BOND - 100, 100, 1)
        );
        assert!(r.open_checks.is_empty());
        assert_eq!(TotalBurned::get_or_default(), burned_before + 100);
        assert!(events().contains(&Event::VerifierSlashed {
            verifier: acc(4),
            job: id,
            amount: 100,
            missed: true
        }));
        let j = job(id);
        assert_eq!(j.state, JobState::Final);
        let answer = |v: u8| {
            j.checks
                .iter()
                .find(|c| c.verifier == acc(v))
                .unwrap()
                .answer
        };
        assert_eq!(
            (answer(3), answer(4)),
            (CheckAnswer::Agreed, CheckAnswer::Missed)
        );
        // The one that answered gets the reward (as far as the pool reaches: 50).
        let Some(Outcome::Paid {
            verifier_reward, ..
        }) = j.outcome
        else {
            panic!("{:?}", j.outcome)
        };
        assert_eq!(verifier_reward, VERIFY_FEE);
        assert_eq!(
            Inference::verifier(&acc(3)).unwrap().verifier.earned,
            VERIFY_FEE
        );
        assert_eq!(VerificationPool::get_or_default(), 0);
        assert_eq!(free(1), provider_before + PRICE - ROYALTY - VERIFY_FEE);
        // A verifier that left still answers for the checks it was given.
        let id = submit(net, 6, Some(1), &rows(2, 3));
        commit_and_draw(net, id, Draw::One);
        let v = index_of(verifiers_of(id)[0]);
        call(v, Call::LeaveVerifiers).unwrap();
        let bond = Inference::verifier(&acc(v)).unwrap().verifier.bond;
        run_to(job(id).window_ends + 1);
        assert_eq!(
            Inference::verifier(&acc(v)).unwrap().verifier.bond,
            bond - bond / 100
        );
    });
}

#[test]
fn a_job_not_committed_in_time_expires_refunds_and_penalises_the_provider() {
    run(|net| {
        let x = rows(1, 0);
        let id = submit(net, 6, Some(1), &x);
        let late = submit(net, 7, Some(1), &x);
        assert_eq!(job(id).commit_by, 6);
        run_to(6);
        // The last block to commit in.
        commit_honest(net, late);
        assert_eq!(job(id).state, JobState::Pending);
        next_block();
        let j = job(id);
        assert_eq!(j.state, JobState::Expired);
        // 1% of the collateral goes to the client with its escrow.
        assert_eq!(
            j.outcome,
            Some(Outcome::Expired {
                refunded: PRICE,
                penalty: 600
            })
        );
        assert!(events().contains(&Event::JobExpired {
            job: id,
            penalty: 600
        }));
        assert_eq!(free(6), FUNDS + 600);
        let p = Compute::provider(&acc(1)).unwrap().provider;
        assert_eq!((p.collateral, p.record.slashed), (COLLATERAL - 600, 600));
        assert_eq!(p.status, ProviderStatus::Active);
        assert_eq!(job(late).state, JobState::Committed);
        assert_eq!(Unsettled::get(&acc(1)), Some(PRICE));
        assert!(Inference::provider_jobs(&acc(1)).is_empty());
        assert_eq!(burned(), 0);
        refused(
            1,
            Call::Commit {
                job: id,
                commitment: net.honest(&x).0,
                output: net.honest(&x).1,
            },
            "NotPending",
        );
        refused(
            7,
            Call::Challenge {
                job: id,
                commitment: net.honest(&x).0,
                layer: 0,
                input: x.clone(),
                weights: net.weights(0),
            },
            "WindowClosed",
        );
    });
}

// ---------------------------------------------------------------- disputes

#[test]
fn a_dispute_proves_a_cheating_provider_wrong_and_slashes_it() {
    run(|net| {
        register_verifier(3, BOND);
        register_verifier(4, BOND);
        let x = rows(3, 2);
        let id = submit(net, 6, Some(1), &x);
        // A real wrong hash at layer 1, and the later layers run on it.
        let (bad, out) = net.cheat(&x, 1);
        assert_eq!(bad[..2], net.honest(&x).0[..2]);
        commit_with(id, (bad.clone(), out));
        steer(now() + 1, &[(id, Draw::Two)]);
        next_block();
        let vs = verifiers_of(id);
        assert_eq!(vs.len(), 2);
        let (lazy, diligent) = (index_of(vs[0]), index_of(vs[1]));
        // The lazy verifier attests the provider's root without computing.
        call(
            lazy,
            Call::Attest {
                job: id,
                root: job(id).root,
            },
        )
        .unwrap();
        // The diligent one re-executes, finds layer 1 wrong and challenges.
        let challenge = net.challenge_of(id, &bad, &x);
        let Call::Challenge { layer, .. } = &challenge else {
            unreachable!()
        };
        assert_eq!(*layer, 1);
        let (client_before, diligent_before) = (free(6), free(diligent));
        call(diligent, challenge.clone()).unwrap();
        // The provider: half its collateral slashed, jailed.
        let p = Compute::provider(&acc(1)).unwrap().provider;
        assert_eq!((p.collateral, p.record.slashed), (30_000, 30_000));
        assert_eq!(p.status, ProviderStatus::Jailed { until: now() + 100 });
        // The client gets its escrow back; the challenger its bond and a fifth of the slash.
        assert_eq!(free(6), client_before + PRICE);
        assert_eq!(free(diligent), diligent_before + 6_000);
        // The lazy verifier loses a fifth of its bond; the rest of the slash is burned.
        let r = Inference::verifier(&acc(lazy)).unwrap().verifier;
        assert_eq!((r.bond, r.slashed), (8_000, 2_000));
        assert_eq!(TotalBurned::get_or_default(), 24_000 + 2_000);
        let j = job(id);
        assert_eq!(j.state, JobState::Settled);
        assert_eq!(
            j.outcome,
            Some(Outcome::ProviderSlashed {
                layer: 1,
                slashed: 30_000,
                challenger: acc(diligent),
                reward: 6_000,
                burned: 24_000,
                refunded: PRICE,
            })
        );
        assert_eq!(j.checks[0].answer, CheckAnswer::Agreed);
        assert_eq!(j.checks[1].answer, CheckAnswer::Challenged);
        assert!(Inference::verifier_jobs(&acc(diligent)).is_empty());
        assert!(events().contains(&Event::ProviderSlashed {
            job: id,
            provider: acc(1),
            challenger: acc(diligent),
            layer: 1,
            amount: 30_000,
            reward: 6_000,
            burned: 24_000
        }));
        assert!(events().contains(&Event::VerifierSlashed {
            verifier: acc(lazy),
            job: id,
            amount: 2_000,
            missed: false
        }));
        assert!(Unsettled::get(&acc(1)).is_none());
        assert_books();
        // Settled for good.
        refused(diligent, challenge.clone(), "AlreadySettled");
        refused(7, challenge.clone(), "AlreadySettled");
        refused(
            lazy,
            Call::Attest {
                job: id,
                root: j.root,
            },
            "NotAwaitingVerification",
        );
        // Nothing is paid when the window closes.
        let before = snapshot();
        run_to(j.window_ends + 1);
        assert_eq!(job(id).state, JobState::Settled);
        let after = snapshot();
        assert_eq!(
            (after.free, after.held, after.pool),
            (before.free, before.held, before.pool)
        );
        // A jailed provider takes no jobs.
        refused(
            6,
            Call::Submit {
                model: net.id,
                input: x.clone(),
                max_fee: PRICE.into(),
                provider: Some(acc(1)),
            },
            "ProviderUnavailable",
        );
        for _ in 0..5 {
            let id = submit(net, 6, None, &x);
            assert_eq!(job(id).provider, acc(2));
        }
    });
}

#[test]
fn a_challenger_wrong_too_loses_its_bond_but_the_cheater_is_slashed() {
    run(|net| {
        let x = rows(2, 9);
        let id = submit(net, 6, Some(1), &x);
        let (bad, out) = net.cheat(&x, 2);
        commit_with(id, (bad.clone(), out));
        let mut also_wrong = bad.clone();
        also_wrong[3] = H256([5; 32]);
        let before = free(7);
        call(
            7,
            Call::Challenge {
                job: id,
                commitment: also_wrong,
                layer: 2,
                input: net.layer_input(&x, 2),
                weights: net.weights(2),
            },
        )
        .unwrap();
        assert_eq!(free(7), before - CHALLENGE_BOND);
        assert_eq!(
            job(id).outcome,
            Some(Outcome::ProviderSlashed {
                layer: 2,
                slashed: 30_000,
                challenger: acc(7),
                reward: 0,
                burned: 30_000,
                refunded: PRICE,
            })
        );
        assert_eq!(free(6), FUNDS);
        assert_eq!(TotalBurned::get_or_default(), 30_000 + CHALLENGE_BOND);
    });
}

#[test]
fn every_layer_of_an_encoder_is_disputed_in_one_step() {
    run(|_| {
        let enc = Net::new(tiny_encoder());
        assert_eq!(enc.layers(), 4);
        enc.register(b"tiny-encoder");
        let x = Activation::tokens(&[vec![1, 5, 9, 2], vec![1, 7, 2]]);
        for (layer, p) in [3u8, 4, 5, 7].into_iter().enumerate() {
            provider(p, &[enc.id], COLLATERAL);
            let id = submit(&enc, 6, Some(p), &x);
            let (bad, out) = enc.cheat(&x, layer);
            commit_with(id, (bad.clone(), out));
            let challenge = enc.challenge_of(id, &bad, &x);
            assert!(Inference::call_work(&challenge) > 0);
            let before = free(8);
            call(8, challenge).unwrap();
            assert_eq!(free(8), before + 6_000, "layer {layer}");
            let Some(Outcome::ProviderSlashed { layer: l, .. }) = job(id).outcome else {
                panic!("{:?}", job(id).outcome)
            };
            assert_eq!(l as usize, layer);
        }
        // Every cheated job was refunded.
        assert_eq!(free(6), FUNDS);
        // An honest provider's every layer re-executes to its hash on the chain: a
        // challenge of any layer is rejected.
        let honest = AccountId([40; 32]);
        Bal::transfer(&acc(7), &honest, 100_000).unwrap();
        io::storage::with_transaction(|| {
            Compute::register(&honest, offer(), vec![enc.id], 10, COLLATERAL)
        })
        .unwrap();
        call_as(
            honest,
            Call::SetPrice {
                model: enc.id,
                price: PRICE.into(),
            },
        )
        .unwrap();
        let id = NextJobId::get_or_default();
        call(
            6,
            Call::Submit {
                model: enc.id,
                input: x.clone(),
                max_fee: PRICE.into(),
                provider: Some(honest),
            },
        )
        .unwrap();
        commit_honest(&enc, id);
        let (truth, _) = enc.honest(&x);
        for layer in 0..4 {
            let mut wrong = truth.clone();
            wrong[layer + 1] = H256([0xab; 32]);
            let before = Bal::free_balance(&honest);
            call(
                8,
                Call::Challenge {
                    job: id,
                    commitment: wrong,
                    layer: layer as u32,
                    input: enc.layer_input(&x, layer),
                    weights: enc.weights(layer),
                },
            )
            .unwrap();
            assert_eq!(Bal::free_balance(&honest), before + CHALLENGE_BOND / 2);
        }
        assert_eq!(job(id).challenges_rejected, 4);
        assert_eq!(job(id).state, JobState::Committed);
    });
}

#[test]
fn a_wrong_challenge_forfeits_the_bond_half_to_the_provider() {
    run(|net| {
        register_verifier(3, BOND);
        let x = rows(2, 4);
        let id = submit(net, 6, Some(1), &x);
        commit_and_draw(net, id, Draw::One);
        assert_eq!(verifiers_of(id), vec![acc(3)]);
        let (honest, _) = net.honest(&x);
        let mut wrong = honest.clone();
        wrong[2] = H256([7; 32]);
        let challenge = Call::Challenge {
            job: id,
            commitment: wrong.clone(),
            layer: 1,
            input: net.layer_input(&x, 1),
            weights: net.weights(1),
        };
        let (c_before, p_before) = (free(7), free(1));
        call(7, challenge.clone()).unwrap();
        assert_eq!(free(7), c_before - CHALLENGE_BOND);
        assert_eq!(free(1), p_before + CHALLENGE_BOND / 2);
        assert_eq!(TotalBurned::get_or_default(), CHALLENGE_BOND / 2);
        assert!(events().contains(&Event::ChallengeRejected {
            job: id,
            challenger: acc(7),
            layer: 1,
            forfeited: CHALLENGE_BOND
        }));
        let j = job(id);
        assert_eq!(
            (j.state, j.challenges_rejected, j.outcome.clone()),
            (JobState::Sampled, 1, None)
        );
        let p = Compute::provider(&acc(1)).unwrap().provider;
        assert_eq!(
            (p.collateral, p.status),
            (COLLATERAL, ProviderStatus::Active)
        );
        // The verifier's own wrong challenge is its answer: nothing left to wait for.
        call(3, challenge).unwrap();
        let j = job(id);
        assert_eq!((j.state, j.challenges_rejected), (JobState::Verified, 2));
        assert_eq!(j.checks[0].answer, CheckAnswer::Challenged);
        assert!(Inference::verifier_jobs(&acc(3)).is_empty());
        // The job goes on and is paid.
        let before = free(1);
        run_to(j.window_ends + 1);
        assert_eq!(job(id).state, JobState::Final);
        assert_eq!(free(1), before + PRICE - ROYALTY - VERIFY_FEE);
        assert_eq!(Inference::verifier(&acc(3)).unwrap().verifier.bond, BOND);
    });
}

#[test]
fn malformed_challenges_are_refused_by_name_and_move_nothing() {
    run(|net| {
        let x = rows(2, 6);
        let id = submit(net, 6, Some(1), &x);
        let pending = submit(net, 6, Some(2), &x);
        commit_and_draw(net, id, Draw::Skip);
        let (honest, _) = net.honest(&x);
        let mut wrong = honest.clone();
        wrong[2] = H256([7; 32]);
        let in1 = net.layer_input(&x, 1);
        let ch = |job: JobId,
                  commitment: &[H256],
                  layer: u32,
                  input: &Activation,
                  weights: LayerWeights| Call::Challenge {
            job,
            commitment: commitment.to_vec(),
            layer,
            input: input.clone(),
            weights,
        };
        refused(7, ch(99, &wrong, 1, &in1, net.weights(1)), "UnknownJob");
        refused(
            7,
            ch(pending, &wrong, 1, &in1, net.weights(1)),
            "NotCommitted",
        );
        // Commitments that agree, have another length, or another input.
        refused(
            7,
            ch(id, &honest, 1, &in1, net.weights(1)),
            "BadChallengeCommitment",
        );
        refused(
            7,
            ch(id, &wrong[..3], 1, &in1, net.weights(1)),
            "BadChallengeCommitment",
        );
        let mut other_input = wrong.clone();
        other_input[0] = H256([1; 32]);
        refused(
            7,
            ch(id, &other_input, 1, &in1, net.weights(1)),
            "BadChallengeCommitment",
        );
        // Not the first layer where they differ.
        refused(7, ch(id, &wrong, 2, &in1, net.weights(2)), "WrongLayer");
        refused(7, ch(id, &wrong, 0, &x, net.weights(0)), "WrongLayer");
        refused(7, ch(id, &wrong, 9, &in1, net.weights(1)), "WrongLayer");
        // Not the agreed input of the layer.
        refused(7, ch(id, &wrong, 1, &x, net.weights(1)), "BadActivation");
        let mut a = in1.clone();
        corrupt(&mut a);
        refused(7, ch(id, &wrong, 1, &a, net.weights(1)), "BadActivation");
        // An opening whose proof does not match: a tensor byte, a sibling, the header.
        let mut w = net.weights(1);
        w.tensors[3].data[0] ^= 1;
        refused(7, ch(id, &wrong, 1, &in1, w), "BadWeights");
        let mut w = net.weights(1);
        w.tensors[0].proof.siblings[0][0] ^= 1;
        refused(7, ch(id, &wrong, 1, &in1, w), "BadWeights");
        let mut w = net.weights(1);
        w.params[2] = 15;
        refused(7, ch(id, &wrong, 1, &in1, w), "BadWeights");
        let mut w = net.weights(1);
        w.tensors.pop();
        refused(7, ch(id, &wrong, 1, &in1, w), "BadWeights");
        // The weights of another layer, or of another model of the same shape.
        refused(7, ch(id, &wrong, 1, &in1, net.weights(0)), "BadWeights");
        refused(7, ch(id, &wrong, 1, &in1, net.weights(2)), "BadWeights");
        let other = Net::new(tiny_mlp(3));
        refused(7, ch(id, &wrong, 1, &in1, other.weights(1)), "BadWeights");
        // A challenger that cannot post the bond.
        let poor = AccountId([21; 32]);
        Bal::transfer(&acc(7), &poor, 500).unwrap();
        let before = snapshot();
        assert_eq!(
            call_as(poor, ch(id, &wrong, 1, &in1, net.weights(1))),
            Err("InsufficientBalance")
        );
        assert_eq!(snapshot(), before);
        // Attest on a job that was not sampled.
        refused(
            3,
            Call::Attest {
                job: id,
                root: job(id).root,
            },
            "NotAwaitingVerification",
        );
        // After the window: refused even before the block's hooks closed the job...
        let ends = job(id).window_ends;
        run_to(ends);
        set_block(ends + 1);
        refused(7, ch(id, &wrong, 1, &in1, net.weights(1)), "WindowClosed");
        set_block(ends);
        // ... and after.
        next_block();
        assert_eq!(job(id).state, JobState::Final);
        refused(7, ch(id, &wrong, 1, &in1, net.weights(1)), "WindowClosed");
    });
}

#[test]
fn an_agreed_activation_the_layer_cannot_run_on_is_refused() {
    run(|net| {
        let x = rows(2, 6);
        let id = submit(net, 6, Some(1), &x);
        // A provider commits, as layer 0's output, the hash of 17 rows of width 6 (the
        // MLP runs at most 16); a colluding challenger agrees and disputes layer 1.
        let (honest, out) = net.honest(&x);
        let bogus = Activation::rows_i8(&vec![vec![1i8; 6]; 17]);
        let mut provider_leaves = honest.clone();
        provider_leaves[1] = H256(activation_hash(&bogus));
        commit_with(id, (provider_leaves.clone(), out));
        let mut challenger = provider_leaves.clone();
        challenger[2] = H256([3; 32]);
        refused(
            7,
            Call::Challenge {
                job: id,
                commitment: challenger,
                layer: 1,
                input: bogus,
                weights: net.weights(1),
            },
            "ReexecutionFailed",
        );
        // The honest challenge is at layer 0, where the provider went wrong.
        let c = net.challenge_of(id, &provider_leaves, &x);
        call(7, c).unwrap();
        assert_eq!(job(id).state, JobState::Settled);
    });
}

// ---------------------------------------------------------------- verifiers

#[test]
fn verifiers_register_leave_unbond_and_withdraw() {
    run(|net| {
        refused(
            3,
            Call::RegisterVerifier {
                bond: (BOND - 1).into(),
            },
            "BondTooLow",
        );
        refused(3, Call::LeaveVerifiers, "NotVerifier");
        refused(3, Call::WithdrawBond, "NotVerifier");
        refused(
            3,
            Call::RegisterVerifier {
                bond: (FUNDS + 1).into(),
            },
            "InsufficientBalance",
        );
        register_verifier(3, BOND);
        assert_eq!(free(3), FUNDS - BOND);
        assert!(events().contains(&Event::VerifierRegistered {
            verifier: acc(3),
            bond: BOND
        }));
        refused(
            3,
            Call::RegisterVerifier { bond: BOND.into() },
            "AlreadyVerifier",
        );
        register_verifier(4, 2 * BOND);
        register_verifier(5, BOND);
        assert_eq!(Inference::summary().active_verifiers, 3);
        assert_eq!(Inference::total_held(), 4 * BOND);
        refused(3, Call::WithdrawBond, "NotUnbonded");
        // Leaving: no longer drawn, the bond unbonds.
        call(3, Call::LeaveVerifiers).unwrap();
        assert!(events().contains(&Event::VerifierLeft { verifier: acc(3) }));
        let since = now();
        assert_eq!(
            Inference::verifier(&acc(3)).unwrap().verifier.status,
            VerifierStatus::Leaving { since }
        );
        assert_eq!(ActiveVerifierCount::get_or_default(), 2);
        assert!(VerifierSlot::get(&acc(3)).is_none());
        assert_books();
        refused(3, Call::LeaveVerifiers, "AlreadyLeaving");
        refused(3, Call::WithdrawBond, "NotUnbonded");
        SamplePerMill::put(&1000);
        DoublePerMill::put(&1000);
        let id = submit(net, 6, Some(1), &rows(1, 0));
        commit_and_draw(net, id, Draw::Two);
        let mut vs = verifiers_of(id);
        vs.sort();
        assert_eq!(vs, vec![acc(4), acc(5)]);
        // A leaving verifier with an open check keeps its bond until it answered.
        call(5, Call::LeaveVerifiers).unwrap();
        let since5 = now();
        run_to(since5 + 4);
        refused(5, Call::WithdrawBond, "NotUnbonded");
        call(
            5,
            Call::Attest {
                job: id,
                root: job(id).root,
            },
        )
        .unwrap();
        let before = free(5);
        call(5, Call::WithdrawBond).unwrap();
        assert_eq!(free(5), before + BOND);
        assert!(Inference::verifier(&acc(5)).is_none());
        assert!(events().contains(&Event::BondWithdrawn {
            verifier: acc(5),
            amount: BOND
        }));
        // Verifier 3 unbonded long ago.
        call(3, Call::WithdrawBond).unwrap();
        assert_eq!(free(3), FUNDS);
        refused(3, Call::WithdrawBond, "NotVerifier");
        // It may come back.
        register_verifier(3, BOND);
        assert_eq!(ActiveVerifierCount::get_or_default(), 2);
        assert_books();
    });
}

#[test]
fn verifiers_left_with_dust_collect_their_pending_payouts_later() {
    run(|net| {
        // A verifier whose whole balance is its bond, rewarded less than the existential
        // deposit: the payout waits as pending.
        let v = AccountId([30; 32]);
        Bal::transfer(&acc(7), &v, BOND).unwrap();
        call_as(v, Call::RegisterVerifier { bond: BOND.into() }).unwrap();
        assert_eq!(Bal::free_balance(&v), 0);
        call(
            1,
            Call::SetPrice {
                model: net.id,
                price: 100.into(),
            },
        )
        .unwrap();
        refused(1, Call::Withdraw, "NothingToWithdraw");
        let id = NextJobId::get_or_default();
        call(
            6,
            Call::Submit {
                model: net.id,
                input: rows(1, 0),
                max_fee: 100.into(),
                provider: Some(acc(1)),
            },
        )
        .unwrap();
        commit_and_draw(net, id, Draw::One);
        assert_eq!(verifiers_of(id), vec![v]);
        call_as(
            v,
            Call::Attest {
                job: id,
                root: job(id).root,
            },
        )
        .unwrap();
        run_to(job(id).window_ends + 1);
        // The pool holds 5 (5% of 100): the whole reward, below the existential deposit.
        assert_eq!(Inference::pending(&v), 5);
        assert_eq!(Bal::free_balance(&v), 0);
        assert_books();
        let before = snapshot();
        assert_eq!(call_as(v, Call::Withdraw), Err("WouldBeDust"));
        assert_eq!(snapshot(), before);
        Bal::transfer(&acc(7), &v, 100).unwrap();
        call_as(v, Call::Withdraw).unwrap();
        assert_eq!(Bal::free_balance(&v), 105);
        assert!(events().contains(&Event::Withdrawn { who: v, amount: 5 }));
        assert_eq!(call_as(v, Call::Withdraw), Err("NothingToWithdraw"));
    });
}

// ---------------------------------------------------------------- the block's dispute work

#[test]
fn dispute_work_is_bounded_per_block() {
    run(|net| {
        let max = <Test as Config>::MAX_DISPUTE_WORK_PER_BLOCK;
        assert!(!Inference::reserve_work(max + 1));
        assert!(Inference::reserve_work(max - 10));
        assert!(!Inference::reserve_work(11));
        assert!(Inference::reserve_work(10));
        assert!(!Inference::reserve_work(1));
        assert!(!Inference::reserve_work(u64::MAX));
        assert_eq!(DisputeWork::get_or_default(), max);
        // The next block starts empty.
        next_block();
        assert_eq!(DisputeWork::get_or_default(), 0);
        assert!(Inference::reserve_work(1));
        // Challenges are priced by their layer's work; nothing else does any.
        let x = rows(4, 0);
        let c = Call::Challenge {
            job: 0,
            commitment: vec![],
            layer: 1,
            input: net.layer_input(&x, 1),
            weights: net.weights(1),
        };
        let w = net.weights(1);
        assert_eq!(Inference::call_work(&c), w.work(1, &[4]));
        // An MLP layer: every row times the tensor bytes, plus the bytes hashed.
        assert_eq!(
            Inference::call_work(&c),
            4 * w.data_bytes() + w.data_bytes()
        );
        assert_eq!(Inference::call_work(&Call::Withdraw), 0);
        assert_eq!(
            Inference::call_work(&Call::Submit {
                model: net.id,
                input: x,
                max_fee: 1.into(),
                provider: None
            }),
            0
        );
        assert!(Inference::dispatch(Origin::Root, Call::Withdraw).is_err());
        // Sampling rates: governance (Root) only, at most 1000 per mill.
        let set = |origin, sample_per_mill| {
            Inference::dispatch(
                origin,
                Call::SetSampling {
                    sample_per_mill,
                    double_per_mill: 500,
                },
            )
            .map_err(|e| e.message)
        };
        assert_eq!(set(Origin::Signed(acc(1)), 200), Err("BadOrigin".into()));
        assert_eq!(set(Origin::Root, 1001), Err("RateAboveOne".into()));
        set(Origin::Root, 200).unwrap();
        assert_eq!(storage::SamplePerMill::get(), Some(200));
        assert_eq!(storage::DoublePerMill::get(), Some(500));
    });
}

// ---------------------------------------------------------------- money adds up

#[derive(Clone, Debug)]
enum Op {
    Submit {
        client: u8,
        provider: Option<u8>,
        rows: u8,
        seed: i8,
    },
    Commit {
        job: u64,
        cheat: Option<u8>,
    },
    Attest {
        pick: u8,
        job: u64,
        honest: bool,
    },
    Challenge {
        who: u8,
        job: u64,
        honest: bool,
        layer: u8,
    },
    Blocks {
        n: u8,
        seed: u64,
    },
    Register {
        who: u8,
        bond: Balance,
    },
    Leave {
        who: u8,
    },
    WithdrawBond {
        who: u8,
    },
    Withdraw {
        who: u8,
    },
    SetPrice {
        provider: u8,
        price: Balance,
    },
    ProviderLeave {
        provider: u8,
    },
    ProviderWithdraw {
        provider: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (3..=7u8, prop::option::of(1..=2u8), 1..=4u8, any::<i8>()).prop_map(
            |(client, provider, rows, seed)| Op::Submit {
                client,
                provider,
                rows,
                seed
            }
        ),
        5 => (any::<u64>(), prop::option::weighted(0.3, 0..3u8))
            .prop_map(|(job, cheat)| Op::Commit { job, cheat }),
        3 => (any::<u8>(), any::<u64>(), any::<bool>())
            .prop_map(|(pick, job, honest)| Op::Attest { pick, job, honest }),
        2 => (1..=8u8, any::<u64>(), any::<bool>(), 0..3u8).prop_map(|(who, job, honest, layer)| {
            Op::Challenge {
                who,
                job,
                honest,
                layer,
            }
        }),
        3 => (1..=6u8, any::<u64>()).prop_map(|(n, seed)| Op::Blocks { n, seed }),
        1 => (3..=8u8, BOND..=3 * BOND).prop_map(|(who, bond)| Op::Register { who, bond }),
        1 => (1..=8u8).prop_map(|who| Op::Leave { who }),
        1 => (1..=8u8).prop_map(|who| Op::WithdrawBond { who }),
        1 => (1..=8u8).prop_map(|who| Op::Withdraw { who }),
        1 => (1..=2u8, prop_oneof![Just(0u128), 60..=1_500u128])
            .prop_map(|(provider, price)| Op::SetPrice { provider, price }),
        1 => (1..=2u8).prop_map(|provider| Op::ProviderLeave { provider }),
        1 => (1..=2u8).prop_map(|provider| Op::ProviderWithdraw { provider }),
    ]
}

/// Mostly the `k`-th job (by id) in a state `wanted` accepts; now and then any job id.
fn some_job(k: u64, wanted: impl Fn(&Job) -> bool) -> JobId {
    let mut ids: Vec<JobId> = Jobs::iter()
        .filter(|(_, j)| wanted(j))
        .map(|(id, _)| id)
        .collect();
    ids.sort();
    match (ids.len() as u64, NextJobId::get_or_default()) {
        (m, _) if m > 0 && !k.is_multiple_of(8) => ids[(k % m) as usize],
        (_, 0) => k,
        (_, n) => k % n,
    }
}

fn apply(net: &Net, op: Op) {
    let _ = match op {
        Op::Submit {
            client,
            provider,
            rows: n,
            seed,
        } => call(
            client,
            Call::Submit {
                model: net.id,
                input: rows(n as usize, seed),
                max_fee: 1_200.into(),
                provider: provider.map(acc),
            },
        ),
        Op::Commit { job: k, cheat } => {
            let id = some_job(k, |j| j.state == JobState::Pending);
            let Some(j) = Jobs::get(&id) else {
                return;
            };
            let (commitment, output) = match cheat {
                Some(l) => net.cheat(&j.input, l as usize),
                None => net.honest(&j.input),
            };
            call_as(
                j.provider,
                Call::Commit {
                    job: id,
                    commitment,
                    output,
                },
            )
        }
        Op::Attest {
            pick,
            job: k,
            honest,
        } => {
            let id = some_job(k, |j| j.state == JobState::Sampled);
            let Some(j) = Jobs::get(&id) else {
                return;
            };
            let who = match j.checks.len() {
                0 => acc(3 + pick % 5),
                n => j.checks[pick as usize % n].verifier,
            };
            let root = if honest && !j.commitment.is_empty() {
                let leaves: Vec<[u8; 32]> = net.honest(&j.input).0.iter().map(|h| h.0).collect();
                H256(merkle_root(&leaves))
            } else {
                j.root
            };
            call_as(who, Call::Attest { job: id, root })
        }
        Op::Challenge {
            who,
            job: k,
            honest,
            layer,
        } => {
            let id = some_job(k, |j| j.state.challengeable());
            let Some(j) = Jobs::get(&id) else {
                return;
            };
            let (truth, _) = net.honest(&j.input);
            let c = if j.commitment.is_empty() || !honest {
                // Garbage: refused.
                Call::Challenge {
                    job: id,
                    commitment: vec![H256([layer; 32]); 4],
                    layer: layer as u32,
                    input: j.input.clone(),
                    weights: net.weights(layer as usize),
                }
            } else if j.commitment != truth {
                net.challenge_of(id, &j.commitment, &j.input)
            } else {
                // An honest provider: a wrong challenge.
                let mut wrong = truth.clone();
                wrong[layer as usize + 1] = H256([9; 32]);
                Call::Challenge {
                    job: id,
                    commitment: wrong,
                    layer: layer as u32,
                    input: net.layer_input(&j.input, layer as usize),
                    weights: net.weights(layer as usize),
                }
            };
            call(who, c)
        }
        Op::Blocks { n, seed } => {
            for _ in 0..n {
                let b = now() + 1;
                History::insert(&b, &beacon(b, seed));
                next_block();
            }
            Ok(())
        }
        Op::Register { who, bond } => call(who, Call::RegisterVerifier { bond: bond.into() }),
        Op::Leave { who } => call(who, Call::LeaveVerifiers),
        Op::WithdrawBond { who } => call(who, Call::WithdrawBond),
        Op::Withdraw { who } => call(who, Call::Withdraw),
        Op::SetPrice { provider, price } => call(
            provider,
            Call::SetPrice {
                model: net.id,
                price: price.into(),
            },
        ),
        Op::ProviderLeave { provider } => {
            let _ = io::storage::with_transaction(|| Compute::leave(&acc(provider)));
            Ok(())
        }
        Op::ProviderWithdraw { provider } => {
            let _ = io::storage::with_transaction(|| Compute::withdraw_collateral(&acc(provider)));
            Ok(())
        }
    };
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Escrows, fees, royalties, bonds, slashes and rewards always add up: free balances
    /// plus what the compute, models and inference pallets hold equal the issuance, which
    /// falls by exactly what was burned; every held total is the sum of its parts.
    #[test]
    fn nothing_is_created_or_lost(ops in proptest::collection::vec(op(), 1..100)) {
        run(|net| {
            // Half the jobs sampled (capacity: half the collateral).
            SamplePerMill::put(&500);
            register_verifier(3, BOND);
            register_verifier(4, BOND);
            register_verifier(5, 2 * BOND);
            for op in ops {
                let burned_before = burned();
                let issuance_before = Bal::total_issuance();
                apply(net, op);
                assert_books();
                prop_assert!(burned() >= burned_before);
                prop_assert_eq!(issuance_before - Bal::total_issuance(), burned() - burned_before);
            }
            // Close everything still open: every job ends.
            run_to(now() + 20);
            assert_books();
            for (_, j) in Jobs::iter() {
                prop_assert!(j.state.is_closed());
            }
            prop_assert!(Unsettled::iter().next().is_none());
            Ok(())
        })?;
    }
}

// ---------------------------------------------------------------- fuzzed challenges

fn fuzz_activation() -> impl Strategy<Value = Activation> {
    let lens = proptest::collection::vec(
        prop_oneof![
            1..5u32,
            Just(0u32),
            Just(u32::MAX),
            Just(1u32 << 31),
            any::<u32>()
        ],
        0..4,
    );
    let cols = prop_oneof![1..8u32, Just(0u32), Just(u32::MAX), any::<u32>()];
    let data = proptest::collection::vec(any::<i16>(), 0..48);
    let wild = (lens, cols, 0..3u8, data).prop_map(|(lens, cols, kind, v)| Activation {
        lens,
        cols,
        data: match kind {
            0 => ActData::Tokens(v.iter().map(|&x| x as u16 as u32).collect()),
            1 => ActData::I8(v.iter().map(|&x| x as i8).collect()),
            _ => ActData::I16(v),
        },
    });
    // Well-formed rows of a random width.
    let tidy = (1..6u32, 1..8u32, any::<bool>(), any::<i8>()).prop_map(|(r, c, wide, s)| {
        let n = (r * c) as usize;
        Activation {
            lens: vec![r],
            cols: c,
            data: if wide {
                ActData::I16((0..n).map(|i| (i as i16).wrapping_mul(s as i16)).collect())
            } else {
                ActData::I8((0..n).map(|i| (i as i8).wrapping_mul(s)).collect())
            },
        }
    });
    prop_oneof![wild, tidy]
}

/// Mutates `w` through its encoding (flipping bytes), falling back to a data flip when the
/// result does not decode.
fn mutate_weights(w: &LayerWeights, flips: &[(prop::sample::Index, u8)]) -> LayerWeights {
    let mut bytes = w.encode();
    for (i, b) in flips {
        let at = i.index(bytes.len());
        bytes[at] ^= b | 1;
    }
    LayerWeights::decode(&mut &bytes[..]).unwrap_or_else(|_| {
        let mut w = w.clone();
        w.tensors[0].data[0] ^= 1;
        w
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A challenge of an honest job with fuzzed commitment, input and weights never panics;
    /// it is refused without moving anything, or (when the pieces happen to form a valid
    /// challenge) rejected with the bond forfeited.
    #[test]
    fn fuzzed_challenges_never_panic_and_move_nothing(
        commitment_kind in 0..4u8,
        random_leaves in proptest::collection::vec(any::<[u8; 32]>(), 0..6),
        leaf in 0..4usize,
        layer in prop_oneof![0..4u32, any::<u32>()],
        input_kind in 0..3u8,
        input in fuzz_activation(),
        weights_kind in 0..4u8,
        weights_layer in 0..3usize,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        run(|net| {
            let x = rows(2, 1);
            let id = submit(net, 6, Some(1), &x);
            commit_honest(net, id);
            let (honest, _) = net.honest(&x);
            let commitment: Vec<H256> = match commitment_kind {
                0 => random_leaves.iter().map(|h| H256(*h)).collect(),
                1 => honest.clone(),
                _ => {
                    let mut c = honest.clone();
                    c[leaf] = H256(random_leaves.first().copied().unwrap_or([1; 32]));
                    c
                }
            };
            let input = match input_kind {
                0 => input,
                1 => x.clone(),
                _ => net.layer_input(&x, (layer % 3) as usize),
            };
            let weights = match weights_kind {
                0 => net.weights(weights_layer),
                1 => mutate_weights(&net.weights(weights_layer), &flips),
                2 => LayerWeights::decode(&mut &bytes[..])
                    .unwrap_or_else(|_| mutate_weights(&net.weights(weights_layer), &flips)),
                _ => Net::new(tiny_encoder()).weights(weights_layer),
            };
            let c = Call::Challenge { job: id, commitment, layer, input, weights };
            let _ = Inference::call_work(&c);
            let before = snapshot();
            let challenger = free(7);
            match call(7, c) {
                Err(_) => prop_assert_eq!(snapshot(), before),
                Ok(()) => {
                    // Only a valid challenge of an honest provider gets through.
                    let rejected = matches!(events().last(), Some(Event::ChallengeRejected { .. }));
                    prop_assert!(rejected);
                    prop_assert_eq!(free(7), challenger - CHALLENGE_BOND);
                    prop_assert_eq!(burned(), before.burned + CHALLENGE_BOND / 2);
                }
            }
            // Arbitrary bytes after a challenge's call index and job id.
            let mut raw = vec![4u8];
            raw.extend(id.encode());
            raw.extend_from_slice(&bytes);
            if let Ok(c) = Call::decode(&mut &raw[..]) {
                let _ = Inference::call_work(&c);
                let before = snapshot();
                if call(7, c).is_err() {
                    prop_assert_eq!(snapshot(), before);
                }
            }
            assert_books();
            Ok(())
        })?;
    }

    /// A provider may commit any hash as a middle layer's output, so a colluding
    /// challenger can make any activation "agreed": the runtime must still not panic
    /// running the layer on it.
    #[test]
    fn an_agreed_garbage_activation_never_panics(
        input in fuzz_activation(),
        layer in 1..3usize,
        encoder in any::<bool>(),
    ) {
        run(|net| {
                let enc = Net::new(tiny_encoder());
            let (net, x) = if encoder {
                enc.register(b"tiny-encoder");
                provider(3, &[enc.id], COLLATERAL);
                (&enc, Activation::tokens(&[vec![1, 5, 9]]))
            } else {
                (net, rows(2, 1))
            };
            let id = submit(net, 6, None, &x);
            let (honest, out) = net.honest(&x);
            let mut leaves = honest.clone();
            leaves[layer] = H256(activation_hash(&input));
            commit_with(id, (leaves.clone(), out));
            let mut challenger = leaves.clone();
            challenger[layer + 1] = H256([0xee; 32]);
            let before = snapshot();
            let r = call(7, Call::Challenge {
                job: id,
                commitment: challenger,
                layer: layer as u32,
                input,
                weights: net.weights(layer),
            });
            if r.is_err() {
                prop_assert_eq!(snapshot(), before);
            }
            assert_books();
            Ok(())
        })?;
    }
}
