"""AI defect inspection whose every decision is auditable and anchored: ONNX Runtime with OpenCV preprocessing,
a model registry of anchored model cards, decisions as ai_inspection records, human reviews, rules to actions."""
