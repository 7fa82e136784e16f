#!/usr/bin/env python3
"""Writes notebooks/data/medical_cot_synthetic.json: a SYNTHETIC stand-in for
FreedomIntelligence/medical-o1-reasoning-SFT (columns Question, Complex_CoT, Response), generated
from hand-written templates with a fixed seed. It exists so the tutorial notebook runs offline.
It is NOT medical advice and was not reviewed by clinicians: the facts are textbook-level
simplifications chosen to give the model a consistent format to learn.

Usage: python3 scripts/make_medical_data.py   (standard library only; seed 3407)
"""
import json, random

random.seed(3407)

# (finding, condition, key test, expected result, mechanism, answer template)
CASES = [
    ("involuntary urine loss when coughing or sneezing", "stress urinary incontinence", "cystometry",
     "a normal post-void residual volume and no involuntary detrusor contractions",
     "weakness of the pelvic floor and urethral sphincter lets pressure from coughing overcome urethral closure",
     "Stress urinary incontinence: cystometry would most likely show a normal residual volume and no involuntary detrusor contractions."),
    ("a sudden urge to urinate followed by leakage", "urge incontinence (overactive bladder)", "cystometry",
     "involuntary detrusor contractions during filling", "the detrusor muscle contracts without voluntary control",
     "Urge incontinence from detrusor overactivity: cystometry would show involuntary detrusor contractions."),
    ("crushing chest pain radiating to the left arm with sweating", "acute myocardial infarction", "an ECG and troponin",
     "ST-segment elevation and a rising troponin", "a blocked coronary artery starves the heart muscle of oxygen",
     "Likely acute myocardial infarction; an ECG and troponin are the first tests."),
    ("fever, neck stiffness and sensitivity to light", "bacterial meningitis", "a lumbar puncture",
     "cloudy cerebrospinal fluid with many neutrophils, high protein and low glucose",
     "bacteria inflame the meninges and consume glucose in the cerebrospinal fluid",
     "Suspected bacterial meningitis: lumbar puncture, after a head CT if there are focal signs."),
    ("excessive thirst, frequent urination and weight loss", "type 1 diabetes mellitus", "a blood glucose and HbA1c",
     "high fasting glucose and raised HbA1c", "loss of insulin-producing beta cells leaves glucose unused in the blood",
     "Probable type 1 diabetes: confirm with fasting glucose and HbA1c."),
    ("right lower abdominal pain that began around the navel, with fever", "acute appendicitis", "an abdominal ultrasound or CT",
     "an enlarged, non-compressible appendix", "an obstructed appendix becomes inflamed and irritates the nearby peritoneum",
     "Likely acute appendicitis; imaging (ultrasound or CT) and a surgical review."),
    ("fatigue, pale skin and a craving to chew ice", "iron deficiency anaemia", "a full blood count and ferritin",
     "low haemoglobin, small red cells and low ferritin", "without iron the marrow cannot make enough haemoglobin",
     "Iron deficiency anaemia: full blood count with low MCV and low ferritin."),
    ("heat intolerance, weight loss and a fine tremor", "hyperthyroidism", "thyroid function tests",
     "low TSH with high free T4", "excess thyroid hormone speeds up metabolism",
     "Hyperthyroidism: TSH will be suppressed and free T4 raised."),
    ("cold intolerance, weight gain and constipation", "hypothyroidism", "thyroid function tests",
     "high TSH with low free T4", "too little thyroid hormone slows metabolism",
     "Primary hypothyroidism: raised TSH and low free T4."),
    ("a painful, swollen big toe that started overnight", "acute gout", "joint fluid analysis",
     "needle-shaped, negatively birefringent urate crystals", "urate crystals deposit in the joint and trigger inflammation",
     "Acute gout: joint aspiration shows negatively birefringent urate crystals."),
    ("wheezing and shortness of breath triggered by cold air", "asthma", "spirometry before and after a bronchodilator",
     "reduced FEV1 that improves markedly after the bronchodilator", "inflamed airways narrow reversibly",
     "Asthma: spirometry shows reversible airflow obstruction."),
    ("a productive cough, fever and crackles at one lung base", "community-acquired pneumonia", "a chest X-ray",
     "a lobar consolidation", "infection fills the air spaces of one lobe with fluid and cells",
     "Community-acquired pneumonia: the chest X-ray would show consolidation."),
    ("burning pain on urination and frequent urges to void", "a lower urinary tract infection", "a urine dipstick and culture",
     "nitrites and leukocytes on dipstick and bacterial growth on culture", "bacteria, usually E. coli, ascend the urethra and inflame the bladder",
     "Lower urinary tract infection: dipstick positive for nitrites and leukocytes; send a culture."),
    ("a sudden severe headache described as the worst ever", "subarachnoid haemorrhage", "a non-contrast head CT",
     "blood in the subarachnoid spaces", "a ruptured aneurysm bleeds around the brain",
     "Suspected subarachnoid haemorrhage: urgent non-contrast CT of the head."),
    ("calf swelling and tenderness after a long flight", "deep vein thrombosis", "a compression ultrasound",
     "a non-compressible deep vein", "immobility slows venous flow and a clot forms",
     "Deep vein thrombosis is likely: compression ultrasound of the leg veins."),
    ("yellow skin, dark urine and pale stools", "obstructive jaundice", "an abdominal ultrasound",
     "dilated bile ducts", "a blockage in the bile ducts stops bile reaching the gut",
     "Obstructive (post-hepatic) jaundice: ultrasound would show dilated bile ducts."),
    ("a butterfly-shaped rash on the cheeks and painful joints", "systemic lupus erythematosus", "antinuclear antibodies",
     "positive ANA and anti-double-stranded DNA antibodies", "autoantibodies attack the body's own tissues",
     "Systemic lupus erythematosus: ANA and anti-dsDNA antibodies are expected to be positive."),
    ("morning joint stiffness lasting over an hour in both hands", "rheumatoid arthritis", "rheumatoid factor and anti-CCP",
     "positive anti-CCP antibodies", "immune inflammation of the joint lining erodes cartilage and bone",
     "Rheumatoid arthritis: anti-CCP antibodies are the most specific test."),
    ("drooping eyelids and muscle weakness that worsens through the day", "myasthenia gravis", "acetylcholine receptor antibodies",
     "positive acetylcholine receptor antibodies", "antibodies block acetylcholine receptors at the neuromuscular junction",
     "Myasthenia gravis: acetylcholine receptor antibodies."),
    ("a resting tremor, slow movement and rigidity", "Parkinson's disease", "a clinical examination",
     "bradykinesia with rigidity and a pill-rolling tremor", "dopamine-producing neurons of the substantia nigra are lost",
     "Parkinson's disease, diagnosed clinically."),
]

AGES = list(range(19, 86))
SEXES = ["woman", "man"]
CONTEXTS = ["", " She has no significant past medical history.", " He takes no regular medication.",
            " The symptoms began two weeks ago.", " The symptoms started this morning.",
            " There is no recent travel.", " A family member had similar complaints."]
ASKS = [
    "What is the most likely diagnosis, and which test would confirm it?",
    "Based on the findings, what would {test} most likely reveal?",
    "What is the underlying mechanism, and what result would {test} show?",
    "Which investigation is most useful here, and what would it show?",
]

rows = []
for i in range(360):
    finding, cond, test, result, mech, answer = CASES[i % len(CASES)]
    age, sex = random.choice(AGES), random.choice(SEXES)
    ctx = random.choice(CONTEXTS)
    if "She" in ctx and sex == "man": ctx = ctx.replace("She", "He")
    if "He " in ctx and sex == "woman": ctx = ctx.replace("He ", "She ")
    ask = random.choice(ASKS).format(test=test)
    q = f"A {age}-year-old {sex} presents with {finding}.{ctx} {ask}"
    cot = (f"The key finding is {finding}. That pattern points to {cond}, because {mech}. "
           f"To confirm it, {test} is the most informative test. "
           f"In {cond} it would typically show {result}. "
           f"Other causes are less likely given the history.")
    rows.append({"Question": q, "Complex_CoT": cot, "Response": answer})

with open("notebooks/data/medical_cot_synthetic.json", "w") as f:
    json.dump(rows, f, indent=1, ensure_ascii=False)
print(len(rows), "rows")
