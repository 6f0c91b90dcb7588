"""Jobs: submit a file, watch its progress, download the results."""

from __future__ import annotations

import json

import streamlit as st

from opinara.dashboard.common import api_errors, client
from opinara.jobs.models import ACTIVE

st.title("Jobs")
api = client()
with st.form("submit_job", clear_on_submit=True):
    upload = st.file_uploader("File: JSON Lines, CSV or text (one per line); .gz too")
    kind = st.radio(
        "What to do",
        ["analyze", "ingest"],
        horizontal=True,
        captions=["analyze each text, results to download", "store reviews (Amazon JSONL or CSV)"],
    )
    text_field = st.text_input("Text field (JSON Lines / CSV)", "text")
    submitted = st.form_submit_button("Submit")
if submitted:
    if upload is None:
        st.warning("Choose a file first.")
    else:
        with api_errors():
            job = api.submit_file(upload.name, upload.getvalue(), kind, text_field=text_field)
        st.session_state["job_id"] = job.id
        st.success(f"Job {job.id} queued ({job.total:,} {job.unit}).")

with api_errors():
    jobs = api.jobs()
if not jobs:
    st.info("No jobs yet: submit a file above, or POST /v1/jobs.")
    st.stop()
st.dataframe(
    [
        {
            "id": j.id,
            "kind": j.kind,
            "status": j.status,
            "progress": f"{j.progress:.0%}",
            "total": j.total,
            "failed": j.failed,
            "created": j.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        }
        for j in jobs
    ],
    hide_index=True,
)
ids = [j.id for j in jobs]
current = st.session_state.get("job_id")
job_id = st.selectbox("Job", ids, index=ids.index(current) if current in ids else 0)
with api_errors():
    job = api.job(job_id)
st.progress(job.progress, text=f"{job.status}: {job.processed:,} of {job.total:,} {job.unit}")
if job.error:
    st.error(job.error)
if job.counts:
    st.json(job.counts, expanded=False)
if job.status in ACTIVE:
    st.button("Refresh")
elif job.status == "succeeded":
    with api_errors():
        items = api.job_results(job_id)
    lines = "\n".join(json.dumps(item, ensure_ascii=False) for item in items)
    st.download_button(f"Download {len(items)} results (JSON Lines)", lines, file_name=f"opinara-job-{job_id}.jsonl")
