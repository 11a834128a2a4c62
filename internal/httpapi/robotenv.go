package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"automationhub/internal/hub"
	"automationhub/internal/robotenv"
)

// RobotEnv is what the robot configuration endpoints need (robotenv.Service).
type RobotEnv interface {
	List(ctx context.Context, p *hub.Principal, robotID, envName string) ([]hub.EnvVar, error)
	Put(ctx context.Context, p *hub.Principal, robotID, envName string, items []robotenv.Item) ([]hub.EnvVar, error)
	Delete(ctx context.Context, p *hub.Principal, robotID, envName, key string) error
}

// RobotEnvVarRead is one variable of a robot's configuration. value is null
// whenever is_secret is true: a secret is never returned once written.
type RobotEnvVarRead struct {
	RobotID   string    `json:"robot_id" format:"uuid"`
	EnvName   string    `json:"env_name" enum:"PROD,HML,TEST"`
	Key       string    `json:"key"`
	IsSecret  bool      `json:"is_secret"`
	IsSet     bool      `json:"is_set" doc:"A value is stored (always true for a listed variable)."`
	Value     *string   `json:"value" doc:"The value; null for a secret."`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func envVarRead(v hub.EnvVar) RobotEnvVarRead {
	out := RobotEnvVarRead{RobotID: v.RobotID, EnvName: v.EnvName, Key: v.Key, IsSecret: v.IsSecret, IsSet: true,
		CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt}
	if !v.IsSecret {
		out.Value = v.Value
	}
	return out
}

type envListOutput struct {
	Body []RobotEnvVarRead
}

func envList(vars []hub.EnvVar) *envListOutput {
	out := &envListOutput{Body: make([]RobotEnvVarRead, 0, len(vars))}
	for _, v := range vars {
		out.Body = append(out.Body, envVarRead(v))
	}
	return out
}

const envDoc = "`env` is PROD (default), HML or TEST, trimmed and upper-cased; anything else is 400 " +
	"`env must be one of: PROD, HML, TEST.`."

func (s *Server) registerRobotEnvRoutes() {
	unavailable := func() error {
		return hub.Errorf(hub.EUnavailable, "Robot configuration is not available on this server.")
	}
	type listInput struct {
		RobotID string `path:"robot_id" doc:"Robot id (UUID)."`
		Env     string `query:"env" maxLength:"20" doc:"PROD (default), HML or TEST."`
	}
	register(s, protect(huma.Operation{
		OperationID: "list-robot-env", Method: http.MethodGet, Path: APIPrefix + "/robots/{robot_id}/env", Tags: []string{tagRobots},
		Summary:     "A robot's configuration for one environment",
		Description: "Sorted by key. Secret values are never returned (`value` is null). " + envDoc,
		Errors:      []int{http.StatusBadRequest, http.StatusNotFound},
	}, string(hub.PermRobotRead)), false, func(ctx context.Context, in *listInput) (*envListOutput, error) {
		if s.robotEnv == nil {
			return nil, unavailable()
		}
		vars, err := s.robotEnv.List(ctx, principalFrom(ctx), in.RobotID, in.Env)
		if err != nil {
			return nil, err
		}
		return envList(vars), nil
	})

	type envItem struct {
		Key      string  `json:"key" minLength:"1" maxLength:"150" pattern:"^[A-Za-z_][A-Za-z0-9_]*$" doc:"Stored as sent (case-sensitive)."`
		Value    *string `json:"value,omitempty" maxLength:"10000" nullable:"true" doc:"Required (null is 400)."`
		IsSecret bool    `json:"is_secret,omitempty" doc:"A secret's value is never returned and is masked in run logs."`
	}
	type putInput struct {
		RobotID string `path:"robot_id" doc:"Robot id (UUID)."`
		Env     string `query:"env" maxLength:"20" doc:"PROD (default), HML or TEST."`
		Body    struct {
			Items []envItem `json:"items" maxItems:"500"`
		}
	}
	register(s, protect(huma.Operation{
		OperationID: "put-robot-env", Method: http.MethodPut, Path: APIPrefix + "/robots/{robot_id}/env", Tags: []string{tagRobots},
		Summary: "Create or replace variables of a robot's configuration",
		Description: "All items or none. Each value is encrypted at rest; an existing key gets the new value and `is_secret`. " +
			"One audit event per item (`robot_env_var.created` / `robot_env_var.updated`, never with the value). Keys a run may never " +
			"set (loader and interpreter hooks, PATH, HOME, HUB_*) are refused. Answers the environment's whole list. " + envDoc,
		Errors: []int{http.StatusBadRequest, http.StatusNotFound, http.StatusConflict},
	}, string(hub.PermRobotPublish)), false, func(ctx context.Context, in *putInput) (*envListOutput, error) {
		if s.robotEnv == nil {
			return nil, unavailable()
		}
		items := make([]robotenv.Item, len(in.Body.Items))
		for i, it := range in.Body.Items {
			items[i] = robotenv.Item{Key: it.Key, Value: it.Value, IsSecret: it.IsSecret}
		}
		vars, err := s.robotEnv.Put(ctx, principalFrom(ctx), in.RobotID, in.Env, items)
		if err != nil {
			return nil, err
		}
		return envList(vars), nil
	})

	type deleteInput struct {
		RobotID string `path:"robot_id" doc:"Robot id (UUID)."`
		Key     string `path:"key" doc:"The variable's key (URL-encoded)."`
		Env     string `query:"env" maxLength:"20" doc:"PROD (default), HML or TEST."`
	}
	type messageOutput struct {
		Body MessageBody
	}
	register(s, protect(huma.Operation{
		OperationID: "delete-robot-env", Method: http.MethodDelete, Path: APIPrefix + "/robots/{robot_id}/env/{key}", Tags: []string{tagRobots},
		Summary:     "Remove a variable of a robot's configuration",
		Description: "Audit event `robot_env_var.deleted`. " + envDoc,
		Errors:      []int{http.StatusBadRequest, http.StatusNotFound},
	}, string(hub.PermRobotPublish)), false, func(ctx context.Context, in *deleteInput) (*messageOutput, error) {
		if s.robotEnv == nil {
			return nil, unavailable()
		}
		if err := s.robotEnv.Delete(ctx, principalFrom(ctx), in.RobotID, in.Env, in.Key); err != nil {
			return nil, err
		}
		return &messageOutput{Body: MessageBody{Message: "Env key removed successfully."}}, nil
	})
}
