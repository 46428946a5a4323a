-- Argo CD health check for drs.operators.dev/DrsJob (see docs/gitops.md).
-- Argo CD sets the global `obj` to the live object; the script returns `hs`.
-- Rules, first match wins:
--   no status, or status.observedGeneration < metadata.generation -> Progressing
--   spec.suspend true                                              -> Suspended
--   Stalled=True (task failed, deleted or missing)                 -> Degraded
--   Synced=False for a reason a retry cannot fix                   -> Degraded
--   Drifted=True (the task is not what spec.expect declares)       -> Degraded
--   Reconciling=True (task in progress)                            -> Progressing
--   Ready=True                                                     -> Healthy
--   Ready=False with reason TaskCompleted                          -> Healthy
--   anything else (e.g. AwaitingFirstRefresh)                      -> Progressing
local hs = {}

-- Synced=False reasons that need a person (fix the spec, the Secret or the
-- permissions); Throttled, ApiError, Unreachable and the like are retried.
local fatal_sync_reasons = {
  CredentialsMissing = true,
  CredentialsInvalid = true,
  InvalidSpec = true,
  AuthFailed = true,
  PermissionDenied = true,
  NotFound = true,
}

local function condition(status, kind)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  if c.reason ~= nil and c.reason ~= "" and c.message ~= nil and c.message ~= "" then
    return c.reason .. ": " .. c.message
  end
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator"
  return hs
end

local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Refreshes are suspended (spec.suspend)"
  return hs
end

local stalled = condition(status, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, "The task failed, was deleted or does not exist")
  return hs
end

local synced = condition(status, "Synced")
if synced ~= nil and synced.status == "False" and fatal_sync_reasons[synced.reason] then
  hs.status = "Degraded"
  hs.message = describe(synced, "The operator cannot read the task")
  return hs
end

local drifted = condition(status, "Drifted")
if drifted ~= nil and drifted.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(drifted, "The task is not what spec.expect declares")
  return hs
end

local reconciling = condition(status, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = describe(reconciling, "The task is in progress")
  return hs
end

local ready = condition(status, "Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "The task is healthy")
  return hs
end
if ready ~= nil and ready.status == "False" and ready.reason == "TaskCompleted" then
  hs.status = "Healthy"
  hs.message = describe(ready, "The task completed")
  return hs
end

hs.status = "Progressing"
if ready ~= nil then
  hs.message = describe(ready, "Waiting for the task to become ready")
else
  hs.message = "Waiting for the first refresh"
end
return hs
