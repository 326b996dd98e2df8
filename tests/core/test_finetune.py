"""Fine-tuning a run on another corpus: the vocabularies joined with the old rows kept, the first
evaluation on the parent's own validation text equal to the parent's, the lineage recorded, and
every bad case one clear message with nothing written."""

import json

import pytest
import torch

from charlm_tui.core.config import ModelConfig
from charlm_tui.core.data.batching import split_train_val
from charlm_tui.core.data.catalog import resolve
from charlm_tui.core.data.corpus import remap_ids
from charlm_tui.core.errors import CharLMError, ConfigError
from charlm_tui.core.store.run_store import lineage, list_runs, open_run, run_info
from charlm_tui.core.training.finetune import MAX_NEW_CHARS, adopt, load_parent, union_vocab
from charlm_tui.core.training.jobs import new_job
from charlm_tui.core.training.trainer import TrainConfig, evaluate
from tests.tui.test_remote_use import held_run  # noqa: F401 (a fixture)

MODEL = {"cell": "lstm", "embed_dim": 6, "hidden_size": 12, "num_layers": 2, "dropout": 0.0}
CFG = TrainConfig(batch_size=4, num_steps=8, eval_every=5, max_steps=10, seed=1)
NEW_TEXT = "THE CAT SAT! the cat sat on the mat; THE DOG?\n" * 30  # upper case, ! ; ? are new


def parent_run(home, tiny_file):
    job = new_job(home, str(tiny_file), MODEL, CFG)
    job.start()
    return job.run


@pytest.fixture
def new_corpus(tmp_path):
    p = tmp_path / "new.txt"
    p.write_text(NEW_TEXT, encoding="utf-8")
    return p


def test_the_fine_tuned_model_predicts_the_parents_text_as_the_parent_did(home, tiny_file, new_corpus):
    run = parent_run(home, tiny_file)
    parent = load_parent(home, run.id)
    corpus = resolve(str(new_corpus), home)
    vocab = union_vocab(parent, corpus)
    new = set("THECASDOG!;?")
    assert set(vocab.chars) == set(parent.vocab.chars) | new and vocab.size == parent.vocab.size + len(new)
    model = adopt(parent, vocab)
    # old rows keep their trained values (at their new ids)
    for ch in parent.vocab.chars:
        assert torch.equal(model.embed.weight[vocab.stoi[ch]], parent.model.embed.weight[parent.vocab.stoi[ch]])
        assert torch.equal(model.head.weight[vocab.stoi[ch]], parent.model.head.weight[parent.vocab.stoi[ch]])
    # the first evaluation on the parent's own validation text is the parent's
    val = split_train_val(resolve(str(tiny_file), home).ids, CFG.val_fraction)[1]
    before = evaluate(parent.model, val, 4, 8)
    after = evaluate(model, remap_ids(val, parent.vocab, vocab), 4, 8)
    assert after.nll == pytest.approx(before.nll, abs=1e-6) and after.tokens == before.tokens
    # and the run new_job builds starts from exactly that model
    job = new_job(home, str(new_corpus), {}, CFG, parent=parent)
    first = evaluate(job.trainer.model, remap_ids(val, parent.vocab, job.corpus.vocab), 4, 8)
    assert first.nll == pytest.approx(before.nll, abs=1e-6)
    job.start()
    cfg = json.loads((job.run.path / "config.json").read_text())
    assert cfg["parent"] == {
        "run_id": run.id,
        "weights": "best",
        "corpus_sha256": json.loads((run.path / "config.json").read_text())["corpus"]["sha256"],
        "corpus": "tiny",
        "step": run.weights_step("best"),
    }
    assert cfg["model"] == ModelConfig(vocab_size=vocab.size, **MODEL).to_json()
    assert run_info(job.run).parent == f"{run.id} (best weights, step {run.weights_step('best'):,})"
    assert [r["run_id"] for r in lineage(home, job.run)] == [run.id]
    # a grandchild's lineage goes back to the first run
    grand = new_job(home, str(new_corpus), {}, CFG, parent=load_parent(home, job.run.id, "last"))
    assert [r["run_id"] for r in lineage(home, grand.run)] == [job.run.id, run.id]


def test_training_options_may_differ_but_the_shape_may_not(home, tiny_file, new_corpus):
    parent = load_parent(home, parent_run(home, tiny_file).id)
    job = new_job(
        home, str(new_corpus), {"dropout": 0.3}, TrainConfig(batch_size=8, num_steps=4, lr=1e-3), parent=parent
    )
    assert job.trainer.model.config.dropout == 0.3 and job.trainer.model.config.hidden_size == 12
    n = len(list_runs(home))
    with pytest.raises(ConfigError, match="keeps the shape of .*leave out --hidden-size"):
        new_job(home, str(new_corpus), {"hidden_size": 32}, CFG, parent=parent)
    new_job(home, str(new_corpus), {"hidden_size": 12}, CFG, parent=parent)  # the same value is no change
    assert len(list_runs(home)) == n + 1


def test_bad_cases_end_in_one_message_with_nothing_written(home, tiny_file, tmp_path):
    run = parent_run(home, tiny_file)
    before = sorted(p.name for p in (home / "runs").iterdir())
    with pytest.raises(CharLMError, match="no run 'nope'"):
        load_parent(home, "nope")
    # a corpus that would push the vocabulary over the bound
    wide = tmp_path / "wide.txt"
    wide.write_text("".join(chr(0x4E00 + i) for i in range(MAX_NEW_CHARS + 10)) * 3, encoding="utf-8")
    with pytest.raises(ConfigError, match=f"adds at most {MAX_NEW_CHARS} characters"):
        new_job(home, str(wide), {}, CFG, parent=load_parent(home, run.id))
    # a damaged checkpoint
    best = run.path / "best.safetensors"
    best.write_bytes(best.read_bytes()[:100])
    with pytest.raises(CharLMError, match="best.safetensors"):
        load_parent(home, run.id)
    assert sorted(p.name for p in (home / "runs").iterdir()) == before


def test_a_run_training_right_now_gives_its_last_saved_weights_and_says_so(home, held_run):  # noqa: F811
    parent = load_parent(home, held_run.id, "best")
    assert parent.weights == "last" and parent.step == open_run(home, held_run.id).weights_step("last")
    assert parent.note.startswith(f"{held_run.id} is training now (pid ") and "last saved weights" in parent.note


def test_a_fine_tuned_run_whose_corpus_lacks_some_of_the_parents_characters_resumes(home, tiny_file, new_corpus):
    """The run's vocabulary is the union: the resume maps the corpus into it instead of comparing
    the corpus's own vocabulary with it (which said 'vocab.json does not match')."""
    from charlm_tui.core.training.jobs import resume_job

    parent = load_parent(home, parent_run(home, tiny_file).id)
    assert set(parent.vocab.chars) - set(NEW_TEXT)  # the parent knows 'd', 'g', 'l', '.' ...
    job = new_job(home, str(new_corpus), {}, CFG, parent=parent)
    job.start()
    vocab = job.run.vocab()
    resumed = resume_job(home, job.run.id, {"max_steps": 15})
    assert resumed.corpus.vocab == vocab
    assert torch.equal(torch.from_numpy(resumed.corpus.ids_np).long(), torch.from_numpy(job.corpus.ids_np).long())
    resumed.start()
    assert resumed.trainer.progress.step == 15
