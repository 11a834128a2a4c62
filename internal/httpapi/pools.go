package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"automationhub/internal/hub"
	"automationhub/internal/pools"
)

// Pools is what the pool endpoints and the robot settings need from the
// pools service.
type Pools interface {
	Create(ctx context.Context, p *hub.Principal, in pools.Input) (*hub.Pool, error)
	List(ctx context.Context, p *hub.Principal) ([]hub.Pool, error)
	Get(ctx context.Context, p *hub.Principal, id string) (*hub.Pool, error)
	Update(ctx context.Context, p *hub.Principal, id string, in pools.Input) (*hub.Pool, error)
	Delete(ctx context.Context, p *hub.Principal, id string) error
	SetRunSettings(ctx context.Context, p *hub.Principal, robotID string, in pools.SettingsInput) (*hub.Robot, error)
}

// PoolRead is a resource pool with its current use.
type PoolRead struct {
	ID          string    `json:"id" format:"uuid"`
	Name        string    `json:"name"`
	Capacity    int       `json:"capacity"`
	Description *string   `json:"description"`
	InUse       int       `json:"in_use" doc:"Slots held now by RUNNING runs, fleet-wide."`
	Robots      []string  `json:"robots" doc:"Names of the robots whose runs need the pool."`
	CreatedBy   *string   `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func poolRead(p *hub.Pool) PoolRead {
	return PoolRead{ID: p.ID, Name: p.Name, Capacity: p.Capacity, Description: p.Description, InUse: p.InUse, Robots: p.Robots,
		CreatedBy: p.CreatedBy, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

const tagPools = "Pools"

type poolOutput struct {
	Body PoolRead
}

type poolBody struct {
	Name        *string `json:"name,omitempty" maxLength:"100" doc:"Lower-case letters, digits, '.', '_' and '-' (e.g. sap-licences)."`
	Capacity    *int    `json:"capacity,omitempty" minimum:"1" maximum:"10000" doc:"How many runs may hold the pool at once, fleet-wide."`
	Description *string `json:"description,omitempty" nullable:"true"`
}

func (s *Server) registerPoolRoutes() {
	type createInput struct {
		Body poolBody
	}
	register(s, protect(huma.Operation{
		OperationID: "create-pool", Method: http.MethodPost, Path: APIPrefix + "/pools", Tags: []string{tagPools},
		Summary: "Create a resource pool", DefaultStatus: http.StatusCreated, Errors: []int{http.StatusConflict},
		Description: "A robot lists the pools its runs need (resource_pools, PATCH /robots/{robot_id}); a run starts only while every pool it needs has a free slot.",
	}, string(hub.PermAdminManage)), false, func(ctx context.Context, in *createInput) (*poolOutput, error) {
		if in.Body.Name == nil || in.Body.Capacity == nil {
			return nil, hub.Errorf(hub.EUnprocessable, "name and capacity are required.")
		}
		p, err := s.pools.Create(ctx, principalFrom(ctx), pools.Input{Name: in.Body.Name, Capacity: in.Body.Capacity, Description: in.Body.Description})
		if err != nil {
			return nil, err
		}
		return &poolOutput{Body: poolRead(p)}, nil
	})

	type listOutput struct {
		Body []PoolRead
	}
	register(s, protect(huma.Operation{
		OperationID: "list-pools", Method: http.MethodGet, Path: APIPrefix + "/pools", Tags: []string{tagPools},
		Summary: "Every resource pool with its use, by name",
	}, string(hub.PermRobotRead)), false, func(ctx context.Context, _ *struct{}) (*listOutput, error) {
		list, err := s.pools.List(ctx, principalFrom(ctx))
		if err != nil {
			return nil, err
		}
		out := &listOutput{Body: make([]PoolRead, 0, len(list))}
		for i := range list {
			out.Body = append(out.Body, poolRead(&list[i]))
		}
		return out, nil
	})

	type poolPath struct {
		PoolID string `path:"pool_id"`
	}
	register(s, protect(huma.Operation{
		OperationID: "get-pool", Method: http.MethodGet, Path: APIPrefix + "/pools/{pool_id}", Tags: []string{tagPools},
		Summary: "One resource pool", Errors: []int{http.StatusNotFound},
	}, string(hub.PermRobotRead)), false, func(ctx context.Context, in *poolPath) (*poolOutput, error) {
		p, err := s.pools.Get(ctx, principalFrom(ctx), in.PoolID)
		if err != nil {
			return nil, err
		}
		return &poolOutput{Body: poolRead(p)}, nil
	})

	type patchInput struct {
		PoolID  string `path:"pool_id"`
		RawBody []byte
		Body    poolBody
	}
	register(s, protect(huma.Operation{
		OperationID: "update-pool", Method: http.MethodPatch, Path: APIPrefix + "/pools/{pool_id}", Tags: []string{tagPools},
		Summary: "Change a resource pool (only the fields sent)", Errors: []int{http.StatusBadRequest, http.StatusNotFound, http.StatusConflict},
		Description: "A smaller capacity stops new runs from starting until enough holders end; running ones are not stopped.",
	}, string(hub.PermAdminManage)), false, func(ctx context.Context, in *patchInput) (*poolOutput, error) {
		var present map[string]json.RawMessage
		if err := json.Unmarshal(in.RawBody, &present); err != nil {
			return nil, hub.Errorf(hub.EInvalid, "Body must be a JSON object.")
		}
		_, clear := present["description"]
		p, err := s.pools.Update(ctx, principalFrom(ctx), in.PoolID, pools.Input{Name: in.Body.Name, Capacity: in.Body.Capacity,
			Description: in.Body.Description, ClearDescription: clear && in.Body.Description == nil})
		if err != nil {
			return nil, err
		}
		return &poolOutput{Body: poolRead(p)}, nil
	})

	type messageOutput struct {
		Body MessageBody
	}
	register(s, protect(huma.Operation{
		OperationID: "delete-pool", Method: http.MethodDelete, Path: APIPrefix + "/pools/{pool_id}", Tags: []string{tagPools},
		Summary: "Delete a resource pool no robot needs", Errors: []int{http.StatusNotFound, http.StatusConflict},
	}, string(hub.PermAdminManage)), false, func(ctx context.Context, in *poolPath) (*messageOutput, error) {
		if err := s.pools.Delete(ctx, principalFrom(ctx), in.PoolID); err != nil {
			return nil, err
		}
		return &messageOutput{Body: MessageBody{Message: "Pool removed successfully."}}, nil
	})
}
